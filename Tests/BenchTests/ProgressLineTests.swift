import Foundation
import Testing
@testable import Bench

/// What a terminal receives: each update erases the line and rewrites it; finish erases it; disabled is silent.
@Suite struct ProgressLineTests {
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var chunks: [String] = []
        var written: [String] { lock.withLock { chunks } }
        func record(_ text: String) { lock.withLock { chunks.append(text) } }
    }

    @Test func updatesRewriteTheLineAndFinishErasesIt() {
        let recorder = Recorder()
        let progress = ProgressLine(enabled: true, output: recorder.record)
        progress.update("1/3")
        progress.update("2/3\nnext")
        progress.finish()
        progress.finish()
        #expect(recorder.written == ["\r\u{1B}[2K1/3", "\r\u{1B}[2K2/3 next", "\r\u{1B}[2K"])
    }

    @Test func finishWithoutUpdateWritesNothing() {
        let recorder = Recorder()
        ProgressLine(enabled: true, output: recorder.record).finish()
        #expect(recorder.written.isEmpty)
    }

    @Test func disabledWritesNothing() {
        let recorder = Recorder()
        let progress = ProgressLine(enabled: false, output: recorder.record)
        progress.update("hidden")
        progress.finish()
        #expect(recorder.written.isEmpty)
        // The public initialiser, disabled, must be just as quiet on the real stderr.
        ProgressLine(enabled: false).update("hidden")
    }
}
