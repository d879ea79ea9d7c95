// Verbs module
