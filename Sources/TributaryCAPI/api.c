/* The C API is implemented in Swift (Sources/TributaryC); this target only carries tributary.h. */
