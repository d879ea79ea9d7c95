import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TributaryTestSupport

/// What a user sees of a running fabric: every daemon's `/metrics` scraped with a real HTTP client
/// while a job runs, its byte counters against the job's own payload; `tributary status` naming a
/// stopped rank, leaf or spine as the rank or the switch within seconds.
@Suite(.serialized) struct VisibilityTests {
    /// GET with Foundation's HTTP client; the body, or nil when the request failed.
    static func get(_ url: String) -> (status: Int, body: String)? {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, String)?
        let request = URLRequest(url: URL(string: url)!, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 10)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                result = (http.statusCode, String(decoding: data ?? Data(), as: UTF8.self))
            }
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    static func scrape(_ url: String) throws -> PrometheusText {
        guard let (status, body) = get(url), status == 200 else { throw TestFailure("GET \(url) failed") }
        return try PrometheusText(body)
    }

    /// The URL each daemon of the fabric in `directory` serves its metrics at, by daemon name.
    static func metricsURLs(_ directory: String) -> [String: String] {
        let folder = "\(directory)/metrics"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var urls: [String: String] = [:]
        for file in files where file.hasSuffix(".url") {
            urls[String(file.dropLast(4))] = (try? String(contentsOfFile: "\(folder)/\(file)", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return urls
    }

    @Test func metricsScrapedDuringARunParseAndAgreeWithThePayload() throws {
        let directory = NSTemporaryDirectory() + "tributary-metrics-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        let run = try LaunchTests.tributary(["serve", "--config", "Configs/default.yaml", "--state-dir", directory],
                                            timeout: 60) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            #expect(LaunchTests.waitFor(10) { Self.metricsURLs(directory).count == 4 })
            let urls = Self.metricsURLs(directory)
            let coordinator = try #require(urls["coordinator"])
            let job = try ServeTests.startJob("scraped", size: 8, endpoint: endpoint, arguments: [
                "--counts", "1000,65537,1048576", "--iters", "20", "--metrics-listen", "127.0.0.1:0",
            ])
            // While it runs: all eight ranks are connected, and every scrape parses.
            var sawRunning = false
            _ = LaunchTests.waitFor(60) {
                guard let text = try? Self.scrape(coordinator) else { return false }
                sawRunning = text.sum("tributary_connections", ["role": "worker"]) == 8
                    && text.sum("tributary_jobs", ["phase": "running"]) == 1
                return sawRunning || job.allSatisfy { !$0.isRunning }
            }
            #expect(sawRunning, "the coordinator's metrics never showed the job running with 8 workers")
            for (name, url) in urls { #expect(throws: Never.self, "\(name)") { _ = try Self.scrape(url) } }
            #expect(ServeTests.finish(job) == Array(repeating: 0, count: 8))
            #expect(LaunchTests.waitFor(10) { ServeTests.summary(directory, "scraped") != nil })
            let summary = try #require(ServeTests.summary(directory, "scraped"))
            let operations = try #require(summary["operations"] as? [[String: Any]])
            #expect(operations.count == 60)
            let payload = operations.reduce(0) { $0 + ($1["bytesSentPerRank"] as? Int ?? 0) } * 8
            // Every byte the ranks sent was received by a leaf from a host, and sent back down.
            var received = 0.0
            var sent = 0.0
            for leaf in ["leaf0", "leaf1"] {
                let text = try Self.scrape(try #require(urls["aggregator-\(leaf)"]))
                for host in 0..<8 {
                    received += text.sum("tributary_link_payload_bytes_total", ["peer": "h\(host)", "direction": "received"])
                    sent += text.sum("tributary_link_payload_bytes_total", ["peer": "h\(host)", "direction": "sent"])
                }
                #expect(text.samples.allSatisfy { $0.name.hasPrefix("tributary_") })
            }
            #expect(received == Double(payload), "leaves received \(received) B from hosts, the ranks sent \(payload) B")
            #expect(sent == Double(payload))
            let spine = try Self.scrape(try #require(urls["aggregator-spine0"]))
            #expect(spine.sum("tributary_link_payload_bytes_total", ["peer": "leaf0", "direction": "received"])
                    == Double(payload / 8), "each leaf sends one reduced copy (one rank's worth) of its ranks' payload up")
            let done = try Self.scrape(coordinator)
            #expect(done.sum("tributary_fabric_operations_total", ["outcome": "bit-exact", "path": "in-network"]) == 60)
            #expect(done.sum("tributary_operation_seconds_count") == 60)
            // The summary's links (from what each rank measured) agree with the switches' counters.
            let links = try #require(summary["links"] as? [[String: Any]])
            let hostUp = links.filter { ($0["from"] as? String)?.hasPrefix("h") == true }
                .reduce(0) { $0 + ($1["bytesUp"] as? Int ?? 0) }
            #expect(hostUp == payload)
            // The live fabric drawn: each host link coloured by the bytes its leaf counted.
            // (The counts come with the switches' heartbeats, every 0.5 s: the last results may take one more.)
            let svg = "\(directory)/live.svg"
            let expected = "data-link=\"h0--leaf0\" data-bytes=\"\(payload / 8) \(payload / 8)\""
            var drawing = ""
            _ = LaunchTests.waitFor(5) {
                let drawn = try? LaunchTests.tributary(["topo", "Configs/default.yaml", "--svg", svg, "--live",
                                                        "--endpoint-file", endpoint], timeout: 30)
                drawing = (try? String(contentsOfFile: svg, encoding: .utf8)) ?? ""
                return drawn?.status == 0 && drawing.contains(expected)
            }
            let h0 = drawing.components(separatedBy: "\n").first { $0.contains("data-link=\"h0--leaf0\"") } ?? "none"
            #expect(drawing.contains(expected), "h0's link should carry what rank 0 sent up and received down: \(h0)")
            kill(serve.processIdentifier, SIGTERM)
        }
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("prometheus scrape config:"), "\(run.stdout)")
    }

    /// `tributary status --json` until `found` holds, within `seconds`.
    static func status(_ endpoint: String, within seconds: TimeInterval,
                       until found: ([String: Any]) -> Bool) -> [String: Any]? {
        var last: [String: Any]?
        _ = LaunchTests.waitFor(seconds) {
            guard let run = try? LaunchTests.tributary(["status", "--fabric-endpoint", endpoint, "--json"], timeout: 20),
                  run.status == 0,
                  let object = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            else { return false }
            last = object
            return found(object)
        }
        return last
    }

    static func daemon(_ name: String, under serve: Int32) -> Int32? {
        LaunchTests.children(of: serve).first { pid in
            let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return command.replacingOccurrences(of: "\0", with: " ").contains("--switch \(name) ")
        }
    }

    /// A rank SIGSTOPped while a job runs is named by `status` as what it is within a few seconds;
    /// the rest of the fabric is shown healthy. (A stopped switch is not waited on: the job's tree is
    /// rebuilt without it within a second, see `FaultTests`.)
    @Test func statusNamesAStoppedRank() throws {
        let directory = NSTemporaryDirectory() + "tributary-status-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        let run = try LaunchTests.tributary(["serve", "--config", "Configs/default.yaml", "--state-dir", directory,
                                             "--no-metrics"], timeout: 90) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            let job = try ServeTests.startJob("stalled", size: 8, endpoint: endpoint, arguments: [
                "--counts", "262144", "--iters", "100000", "--no-check",
            ])
            var target: Int32 = 0
            defer {
                kill(target, SIGCONT)
                for p in job where p.isRunning { kill(p.processIdentifier, SIGKILL) }
                _ = ServeTests.finish(job, seconds: 0)  // reaps the ranks and removes their logs
                kill(serve.processIdentifier, SIGTERM)
            }
            let running = Self.status(endpoint, within: 30) { status in
                let jobs = status["jobs"] as? [[String: Any]] ?? []
                return jobs.contains { ($0["phase"] as? String) == "running" && ($0["operations"] as? Int ?? 0) > 0 }
            }
            #expect(running != nil, "the job never ran")
            target = job[5].processIdentifier
            let expected = "rank 5 (host h5, pid \(target)) is not responding"
            kill(target, SIGSTOP)
            let stoppedAt = Date()
            let named = Self.status(endpoint, within: 10) { status in
                let jobs = status["jobs"] as? [[String: Any]] ?? []
                return jobs.contains { ($0["diagnosis"] as? [String] ?? []).contains { $0.hasPrefix(expected) } }
            }
            let after = Date().timeIntervalSince(stoppedAt)
            let diagnosis = ((named?["jobs"] as? [[String: Any]])?.first?["diagnosis"] as? [String]) ?? []
            #expect(diagnosis.contains { $0.hasPrefix(expected) }, "\(diagnosis)")
            #expect(after < 6, "named after \(after) s")
            let silent = (named?["jobs"] as? [[String: Any]])?.first?["silentRanks"] as? [String: Any] ?? [:]
            #expect(silent.keys.contains("5"), "\(silent)")
        }
        #expect(run.status == 0, "\(run.output)")
    }
}
