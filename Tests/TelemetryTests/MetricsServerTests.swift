import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Prometheus
import Telemetry
import Testing
import TributaryCore
import TributaryTestSupport

/// GET with Foundation's HTTP client: status, content type and body.
func httpGet(_ url: String) async throws -> (status: Int, contentType: String, body: String) {
    let request = URLRequest(url: URL(string: url)!, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 10)
    return try await withCheckedThrowingContinuation { continuation in
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { return continuation.resume(throwing: error) }
            let http = response as! HTTPURLResponse
            continuation.resume(returning: (http.statusCode, http.value(forHTTPHeaderField: "Content-Type") ?? "",
                                            String(decoding: data ?? Data(), as: UTF8.self)))
        }.resume()
    }
}

@Suite struct MetricsServerTests {
    @Test func servesTheRegistryInPrometheusTextFormatAndNothingElse() async throws {
        let metrics = FabricMetrics()
        let counter = metrics.registry.makeCounter(name: "tributary_test_total", labels: [("node", "leaf0")])
        counter.increment(by: Int64(42))
        let server = try await MetricsServer.start(host: "127.0.0.1", port: 0, registry: metrics.registry)
        #expect(server.port > 0)
        #expect(server.url == "http://127.0.0.1:\(server.port)/metrics")
        let ok = try await httpGet(server.url)
        #expect(ok.status == 200)
        #expect(ok.contentType.hasPrefix("text/plain; version=0.0.4"))
        let text = try PrometheusText(ok.body)
        #expect(text.sum("tributary_test_total", ["node": "leaf0"]) == 42)
        counter.increment()
        #expect(try PrometheusText(try await httpGet(server.url).body).sum("tributary_test_total") == 43,
                "each scrape reads the counters now")
        let missing = try await httpGet("http://127.0.0.1:\(server.port)/other")
        #expect(missing.status == 404)
        await server.close()
    }

    @Test func aTakenPortIsAClearError() async throws {
        let metrics = FabricMetrics()
        let first = try await MetricsServer.start(host: "127.0.0.1", port: 0, registry: metrics.registry)
        defer { Task { await first.close() } }
        await #expect(throws: MetricsServerError.self) {
            _ = try await MetricsServer.start(host: "127.0.0.1", port: first.port, registry: metrics.registry)
        }
    }
}

@Suite struct DataPlaneMetricsTests {
    func scrape(_ metrics: FabricMetrics) throws -> PrometheusText {
        try PrometheusText(metrics.registry.emitToString())
    }

    @Test func countsLinkBytesFoldsAndSlotsAndDropsAJobsSeriesWhenItEnds() throws {
        let metrics = FabricMetrics()
        let observer = DataPlaneMetrics(node: "leaf0", factory: metrics.factory)
        observer.observe(.jobInstalled(job: 7, name: "train", slots: 16, slotBytes: 1024))
        for (child, bytes) in [("h0", 100), ("h1", 100), ("h0", 28)] {
            observer.observe(.chunkArrived(job: 7, opSeq: 1, chunk: 0, from: child, bytes: bytes))
        }
        observer.observe(.slotsInUse(job: 7, slots: 3, slotBytes: 3072))
        observer.observe(.chunkFolded(job: 7, opSeq: 1, chunk: 0, contributions: 2, waited: 2_000_000))
        observer.observe(.chunkSent(job: 7, opSeq: 1, chunk: 0, to: "spine0", direction: .up, bytes: 100))
        observer.observe(.resultArrived(job: 7, opSeq: 1, chunk: 0, from: "spine0", bytes: 100))
        var text = try scrape(metrics)
        #expect(text.sum("tributary_link_payload_bytes_total", ["node": "leaf0", "peer": "h0", "direction": "received"]) == 128)
        #expect(text.sum("tributary_link_payload_bytes_total", ["peer": "h1"]) == 100)
        #expect(text.sum("tributary_link_payload_bytes_total", ["peer": "spine0", "direction": "sent"]) == 100)
        #expect(text.sum("tributary_link_payload_bytes_total", ["peer": "spine0", "direction": "received"]) == 100)
        #expect(text.sum("tributary_chunks_folded_total", ["job": "train"]) == 1)
        #expect(text.sum("tributary_job_slots_in_use", ["job": "train"]) == 3)
        #expect(text.sum("tributary_job_slot_quota", ["job": "train"]) == 16)
        #expect(text.sum("tributary_slots_in_use", ["node": "leaf0"]) == 3)
        #expect(text.sum("tributary_chunk_slot_wait_seconds_count") == 1)
        #expect(text.types["tributary_chunk_slot_wait_seconds"] == "histogram")
        observer.observe(.jobEnded(job: 7))
        text = try scrape(metrics)
        #expect(!text.samples.contains { $0.labels["job"] == "train" }, "an ended job's series are gone")
        #expect(text.sum("tributary_slots_in_use", ["node": "leaf0"]) == 0)
        #expect(text.sum("tributary_link_payload_bytes_total", ["peer": "h0"]) == 128, "link totals outlive jobs")
    }

    @Test func countsARanksOperationsByPathAndOutcome() throws {
        let metrics = FabricMetrics()
        let observer = DataPlaneMetrics(node: "h3", factory: metrics.factory)
        observer.observe(.operationEnded(job: 1, rank: 3, opSeq: 1, collective: .allreduce, algorithm: .inNetwork,
                                         seconds: 0.002, bytesSent: 64, bytesReceived: 64, failure: nil))
        observer.observe(.operationEnded(job: 1, rank: 3, opSeq: 2, collective: .allreduce, algorithm: .ring,
                                         seconds: 0.5, bytesSent: 0, bytesReceived: 0, failure: "leaf lost"))
        let text = try scrape(metrics)
        #expect(text.sum("tributary_rank_operations_total", ["path": "in-network", "outcome": "completed"]) == 1)
        #expect(text.sum("tributary_rank_operations_total", ["path": "ring", "outcome": "failed"]) == 1)
        #expect(text.sum("tributary_rank_operation_seconds_count", ["path": "in-network"]) == 1)
    }
}

@Suite struct PrometheusTextTests {
    @Test func rejectsWhatIsNotTheExpositionFormat() {
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("tributary_x 1\n") }  // no TYPE
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("# TYPE a counter\na{b=\"c} 1\n") }
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("# TYPE a counter\na one\n") }
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("# TYPE 1a counter\n") }
    }
}
