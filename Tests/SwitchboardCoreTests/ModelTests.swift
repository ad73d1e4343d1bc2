import Foundation
@testable import SwitchboardCore
import Testing

@Suite("Times and ids")
struct TimeAndIDTests {
    @Test("RFC 3339 formatting is UTC with milliseconds", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_795_000_000_123, "2026-11-18T11:06:40.123Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func format(_ ms: Int64, _ text: String) {
        #expect(Timestamp(milliseconds: ms).rfc3339 == text)
        #expect(Timestamp(rfc3339: text)?.milliseconds == ms)
    }

    @Test("RFC 3339 parsing accepts offsets and any fraction length")
    func parseVariants() {
        #expect(Timestamp(rfc3339: "2026-11-27T10:00:00Z")?.rfc3339 == "2026-11-27T10:00:00.000Z")
        #expect(Timestamp(rfc3339: "2026-11-27t10:00:00.5z")?.rfc3339 == "2026-11-27T10:00:00.500Z")
        #expect(Timestamp(rfc3339: "2026-11-27T12:30:00.123456+02:30")?.rfc3339 == "2026-11-27T10:00:00.123Z")
        #expect(Timestamp(rfc3339: "2026-11-27T00:00:00-01:00")?.rfc3339 == "2026-11-27T01:00:00.000Z")
    }

    @Test("malformed times are refused", arguments: [
        "", "2026-11-27", "2026-11-27T10:00:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-11-27T24:00:00Z", "2026-11-27T10:00:00.Z", "2026-11-27T10:00:00Zjunk", "26-11-27T10:00:00Z",
        "2026-11-27T10:00:00+2:00",
    ])
    func malformed(_ text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test("round trip over many instants")
    func roundTrip() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let ms = Int64.random(in: -10_000_000_000_000...250_000_000_000_000, using: &rng)
            #expect(Timestamp(rfc3339: Timestamp(milliseconds: ms).rfc3339)?.milliseconds == ms)
        }
    }

    @Test("UUIDv7 ids carry their time, version and variant, and are unique")
    func uuidV7() {
        var random = RandomBytes()
        let now = Timestamp(milliseconds: 1_795_000_000_123)
        let ids = (0..<1000).map { _ in UUIDv7.make(at: now, random: random.next16()) }
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.count == 36)
            #expect(UUIDv7.timestamp(of: id) == now)
            let chars = Array(id)
            #expect(chars[14] == "7")
            #expect("89ab".contains(chars[19]))
            #expect(UUID(uuidString: id) != nil)
        }
        let later = UUIDv7.make(at: now + .milliseconds(1), random: random.next16())
        #expect(ids.allSatisfy { $0 < later }, "time-ordered")
    }
}

@Suite("JSON")
struct JSONTests {
    @Test("valid documents", arguments: [
        "{}", "[]", "0", "-0.5e+10", "\"\"", "true", "null", " {\"a\" : [1, {\"b\": null}], \"c\": \"\\u00e9\\n\"} ",
        "\"\\ud83d\\ude00\"", "\"ü€😀\"", "[1e5, 1E-5, -0, 12.25]",
    ])
    func valid(_ text: String) throws {
        _ = try JSONScanner.validate(Array(text.utf8))
    }

    @Test("invalid documents", arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "NaN", "[1 2]", "{\"a\" 1}", "{1:2}", "tru", "nul",
        "\"\\x\"", "\"a\u{01}b\"", "\"\\ud800\"", "\"\\udc00\"", "\"abc", "{} {}", "[\"\\u12\"]", "'a'",
    ])
    func invalid(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONScanner.validate(Array(text.utf8)) }
    }

    @Test("invalid UTF-8 is refused", arguments: [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xFF, 0x22], [0x22, 0xE2, 0x82, 0x22]])
    func invalidUTF8(_ bytes: [UInt8]) {
        #expect(throws: JSONSyntaxError.self) { try JSONScanner.validate(bytes) }
    }

    @Test("nesting is limited")
    func depth() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONSyntaxError.self) { try JSONScanner.validate(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONScanner.validate(Array(ok.utf8))
    }

    @Test("members are read with keys unescaped and values as spans")
    func members() throws {
        let bytes = Array(#"{"a\"b": [1, 2], "é": "x\ty", "n": null}"#.utf8)
        let members = try JSONScanner.members(ofObject: bytes)
        #expect(members.map(\.key) == ["a\"b", "é", "n"])
        #expect(members.map(\.kind) == [.array, .string, .null])
        #expect(String(decoding: bytes[members[0].range], as: UTF8.self) == "[1, 2]")
        #expect(JSONScanner.string(in: bytes, range: members[1].range) == "x\ty")
    }

    @Test("nested values of a validated document are read in place, skipping what was checked, with the same answers")
    func nestedReadsAgree() throws {
        let document = #"""
            {"items": [{"id": "a\"]}", "n": -1.5e+3, "t": {"deep": [true, false, null, {"x": "[{\\"}]}, "e": []},
                       {"id": "é", "n": 0, "t": {}}], "m": {"k": "v\u0041"}, "s": ["p", "q\n"]}
            """#
        let reader = try JSONObjectReader(Array(document.utf8))
        let items = try #require(try reader.objects("items"))
        #expect(items.count == 2)
        for item in items {
            // The skimmed members are exactly those of a validating scan of the same range.
            let whole = try #require(reader.members.first { $0.key == "items" })
            let elements = try JSONScanner.elements(ofArrayIn: reader.bytes, range: whole.range)
            let checked = try elements.map { try JSONScanner.members(ofObjectIn: reader.bytes, range: $0.range) }
            #expect(checked.contains { $0.map(\.key) == item.members.map(\.key) && $0.map(\.range) == item.members.map(\.range) })
        }
        #expect(try items[0].string("id") == "a\"]}")
        #expect(try items[0].integer("n") == -1500)
        let t = try #require(try items[0].object("t"))
        #expect(t.members.map(\.key) == ["deep"])
        #expect(t.members.map(\.kind) == [.array])
        #expect(items[0].members.map(\.key) == ["id", "n", "t", "e"])
        #expect(String(decoding: t.bytes[t.members[0].range], as: UTF8.self) == #"[true, false, null, {"x": "[{\\"}]"#)
        #expect(try items[1].string("id") == "é")
        #expect(try items[1].object("t")?.members.isEmpty == true)
        #expect(try reader.stringMap("m") == ["k": "vA"])
        #expect(try reader.strings("s") == ["p", "q\n"])
    }

    @Test("errors name a nested field by its whole path")
    func nestedPaths() throws {
        let reader = try JSONObjectReader(Array(#"{"items": [{}, {"t": {"deep": [1]}, "u": 5}]}"#.utf8))
        let items = try #require(try reader.objects("items"))
        #expect(reader.path == "" && items[1].path == "items[1].")
        let t = try #require(try items[1].object("t"))
        #expect(t.path == "items[1].t.")
        #expect(throws: SwitchboardError.invalid("items[1].t.deep must be a string")) { try t.string("deep") }
        #expect(throws: SwitchboardError.invalid("unknown field 'items[1].u'")) { try items[1].rejectUnknown(allowed: ["t"]) }
    }

    @Test("the scanner agrees with Foundation on mutated documents, and never crashes")
    func fuzzAgainstFoundation() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [#"{"a": [1, 2.5, "x\u00e9", true, null], "b": {"c": -1e3}}"#, #"["\ud83d\ude00", {}, [], ""]"#]
        let alphabet = Array(#"{}[]":,\ ".0123456789eE+-tfnulrsa\u{00}"#.utf8) + [0xC3, 0xA9, 0xFF, 0x0A]
        var disagreements: [String] = []
        for i in 0..<4000 {
            let bytes = mutated(Array(seeds[i % seeds.count].utf8), from: alphabet, using: &rng)
            let ours = (try? JSONScanner.validate(bytes)) != nil
            let theirs = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
            if ours != theirs { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
        }
        // Foundation refuses numbers beyond Double's range (RFC 8259 allows them; we keep
        // payload numbers as bytes and never convert them), and is laxer than us in a few
        // corners; other than the first, we only allow disagreements where we are stricter.
        for text in disagreements where text.range(of: #"[eE][+-]?[0-9]{3,}"#, options: .regularExpression) == nil {
            #expect((try? JSONScanner.validate(Array(text.utf8))) == nil, "we accept what Foundation refuses: \(text)")
        }
        var random = [UInt8](repeating: 0, count: 64)
        for _ in 0..<2000 {
            for j in random.indices { random[j] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? JSONScanner.validate(random)
            _ = try? JSONScanner.members(ofObject: random)
        }
    }

    @Test("raw JSON keeps its bytes and trims outer white space")
    func rawJSON() throws {
        let raw = try RawJSON(validating: "  {\"b\":1,  \"a\": [ 1.50 ]}\n")
        #expect(raw.description == "{\"b\":1,  \"a\": [ 1.50 ]}")
        #expect(raw.objectMembers()?["a"]?.description == "[ 1.50 ]")
        #expect(try RawJSON(validating: "\"h\\u00e9\"").stringValue == "hé")
        #expect(try RawJSON(validating: "12").integerValue == 12)
        #expect(try RawJSON(validating: "1.5").integerValue == nil)
        #expect(try RawJSON(validating: "false").boolValue == false)
    }

    @Test("the writer escapes strings as JSON requires")
    func writerEscapes() throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("s"); w.string("quote\" back\\ nl\n tab\t ctl\u{01} é")
        w.key("n"); w.double(2.5)
        w.key("i"); w.double(3)
        w.endObject()
        let parsed = try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any]
        #expect(parsed?["s"] as? String == "quote\" back\\ nl\n tab\t ctl\u{01} é")
        #expect(String(decoding: w.bytes, as: UTF8.self).contains("\"i\":3"))
    }

    @Test("the word-at-a-time checks agree with byte-at-a-time ones")
    func escapeCheck() {
        var rng = SystemRandomNumberGenerator()
        // Mostly harmless bytes, with the ones that matter (and their neighbours) sprinkled in.
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0x9F, 0xA0, 0xDC, 0xE2, 0xFF]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...40, using: &rng)
            let bytes = (0..<count).map { _ in
                Int.random(in: 0..<8, using: &rng) == 0 ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0x23...0x5B, using: &rng)
            }
            let naive = bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            #expect(bytes.withUnsafeBufferPointer(JSONWriter.needsEscaping) == naive, "\(bytes)")
            let from = Int.random(in: 0...count, using: &rng)
            let plainEnd = bytes[from...].firstIndex { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C } ?? count
            #expect(bytes.withUnsafeBufferPointer { ASCIIWord.plainRunEnd(in: $0, from: from, to: count) } == plainEnd, "\(bytes) from \(from)")
        }
    }

    @Test("the writer spells integers as Swift does, from the smallest Int64 to the largest UInt64")
    func writerIntegers() {
        let values: [Int64] = [0, 7, 9, 10, -1, -10, 99, 100, 1_000_000_007, -987_654_321_012, .max, .min]
        var w = JSONWriter()
        w.beginArray()
        for value in values { w.int(value) }
        w.int(UInt64.max)
        w.int(UInt8(200))
        w.endArray()
        #expect(String(decoding: w.bytes, as: UTF8.self) == "[" + (values.map(String.init) + [String(UInt64.max), "200"]).joined(separator: ",") + "]")
    }

    @Test("times are written as RFC 3339 with milliseconds and read back the same")
    func timestamps() {
        for ms: Int64 in [0, 1, 999, 86_399_999, 951_782_400_000, 1_800_000_000_123, 253_402_300_799_999, -1] {
            var w = JSONWriter()
            w.timestamp(Timestamp(milliseconds: ms))
            let text = String(decoding: w.bytes.dropFirst().dropLast(), as: UTF8.self)
            #expect(Timestamp(rfc3339: text) == Timestamp(milliseconds: ms), "\(ms) → \(text)")
        }
        var w = JSONWriter()
        w.timestamp(Timestamp(milliseconds: 951_782_400_000))
        #expect(String(decoding: w.bytes, as: UTF8.self) == #""2000-02-29T00:00:00.000Z""#)
    }

    @Test("one writer spells every time right however they repeat, alternate or cross midnight, and grows from any capacity")
    func writerSequences() throws {
        // Repeats, alternations, the same time of day on another day, the same day at other
        // times, either side of midnight and of the epoch: what the writer's remembered last
        // time and last day must never get wrong.
        let times: [Int64] = [
            1_795_000_000_000, 1_795_000_000_000, 1_795_000_035_000, 1_795_000_000_000, 1_795_000_000_000 + 86_400_000,
            1_795_000_035_000, 1_795_046_399_999, 1_795_046_400_000, 1_795_046_399_999, 0, -1, 0, -86_400_000, -1,
        ]
        var w = JSONWriter(capacity: 1)
        w.beginObject()
        w.key("times")
        w.beginArray()
        for ms in times { w.timestamp(Timestamp(milliseconds: ms)) }
        w.timestamp(nil)
        w.endArray()
        w.key(computed: "k\"ey"); w.string("v")
        w.key("map"); w.stringMap(["b": "2", "a": "1"])
        w.endObject()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        let written = try #require(object["times"] as? [Any])
        #expect(written.count == times.count + 1)
        for (ms, text) in zip(times, written) {
            #expect(text as? String == Timestamp(milliseconds: ms).rfc3339, "\(ms)")
            #expect((text as? String).flatMap { Timestamp(rfc3339: $0) } == Timestamp(milliseconds: ms), "\(ms)")
        }
        #expect(written.last is NSNull)
        #expect(object["k\"ey"] as? String == "v")
        #expect(String(decoding: w.bytes, as: UTF8.self).hasSuffix(#""map":{"a":"1","b":"2"}}"#))
        // What `withBytes` lends is what `bytes` copies.
        #expect(w.withBytes { Array($0) } == w.bytes)
    }
}

@Suite("Task JSON")
struct TaskJSONTests {
    static let sample = TaskRecord(
        id: "0193c1f0-0000-7000-8000-000000000001", queue: "default", type: "tool_call", runID: "run-123", priority: 5,
        metadata: ["user_id": "user-123", "b": "é\"x"],
        payload: json(#"{"tool_name": "read_file", "input": {"path": "/etc/hosts"}, "reason": "gathering info"}"#),
        status: .running, attempts: 1, maxRetries: 3, timeoutMS: 30000, lockKey: nil, notBefore: nil,
        createdAt: Timestamp(milliseconds: 1_795_000_000_000), updatedAt: Timestamp(milliseconds: 1_795_000_000_500),
        startedAt: Timestamp(milliseconds: 1_795_000_000_400), workerID: "worker-1",
        leaseExpiresAt: Timestamp(milliseconds: 1_795_000_035_400), result: json("[1, 2.50]"), error: "boom",
        errors: [TaskErrorEntry(attempt: 1, at: Timestamp(milliseconds: 1_795_000_000_300), message: "boom", workerID: "w0")])

    @Test("the fast writer produces the DESIGN.md shape, payload bytes verbatim")
    func shape() throws {
        let bytes = Self.sample.jsonBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""payload":{"tool_name": "read_file", "input": {"path": "/etc/hosts"}, "reason": "gathering info"}"#))
        #expect(text.contains(#""result":[1, 2.50]"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let expectedKeys: Set<String> = [
            "id", "queue", "type", "run_id", "priority", "metadata", "payload", "status", "attempts", "max_retries",
            "timeout_ms", "lock_key", "not_before", "created_at", "updated_at", "started_at", "finished_at",
            "worker_id", "lease_expires_at", "result", "error", "errors",
        ]
        #expect(Set(object.keys) == expectedKeys)
        #expect(object["created_at"] as? String == "2026-11-18T11:06:40.000Z")
        #expect(object["lock_key"] is NSNull)
        let errors = try #require(object["errors"] as? [[String: Any]])
        #expect(errors.first?["worker_id"] as? String == "w0")
    }

    @Test("Codable decodes what the writer wrote, and round-trips")
    func codable() throws {
        let decoded = try JSONDecoder().decode(TaskRecord.self, from: Data(Self.sample.jsonBytes()))
        // Codable goes through a tree, so raw values come back equal in meaning, not in bytes.
        #expect(try decoded.payload.parsed() == Self.sample.payload.parsed())
        #expect(try decoded.result?.parsed() == Self.sample.result?.parsed())
        decodedFieldsMatch(decoded, Self.sample)
        let again = try JSONDecoder().decode(TaskRecord.self, from: JSONEncoder().encode(decoded))
        decodedFieldsMatch(again, Self.sample)
    }

    private func decodedFieldsMatch(_ a: TaskRecord, _ b: TaskRecord) {
        #expect(a.id == b.id && a.queue == b.queue && a.type == b.type && a.runID == b.runID)
        #expect(a.priority == b.priority && a.metadata == b.metadata && a.status == b.status)
        #expect(a.attempts == b.attempts && a.maxRetries == b.maxRetries && a.timeoutMS == b.timeoutMS)
        #expect(a.createdAt == b.createdAt && a.updatedAt == b.updatedAt && a.startedAt == b.startedAt)
        #expect(a.leaseExpiresAt == b.leaseExpiresAt && a.workerID == b.workerID && a.error == b.error)
        #expect(a.errors == b.errors && a.finishedAt == nil && a.notBefore == nil && a.lockKey == nil)
    }

    @Test("a submission body is parsed with payload bytes kept")
    func submission() throws {
        let body = #"{"queue":"agents","type":"tool_call","run_id":"run-1","priority":7,"metadata":{"u":"1"},"payload":{ "tool_name" : "echo" },"max_retries":2,"timeout_ms":5000,"lock_key":"repo","not_before":"2026-11-27T10:00:00Z","id":"my-id"}"#
        let s = try TaskSubmission(json: Array(body.utf8))
        #expect(s.queue == "agents" && s.type == "tool_call" && s.runID == "run-1" && s.priority == 7)
        #expect(s.metadata == ["u": "1"] && s.maxRetries == 2 && s.timeoutMS == 5000 && s.lockKey == "repo")
        #expect(s.payload.description == #"{ "tool_name" : "echo" }"#)
        #expect(s.notBefore?.rfc3339 == "2026-11-27T10:00:00.000Z")
        #expect(s.id == "my-id")
    }

    @Test("submission bodies with the wrong shape say which field", arguments: [
        (#"{"payload": 1, "priority": "high"}"#, SwitchboardError.Kind.invalid, "priority"),
        (#"{"payload": 1, "priority": 1.5}"#, .invalid, "priority"),
        (#"{"payload": 1, "queue": 5}"#, .invalid, "queue"),
        (#"{"payload": 1, "metadata": {"a": 1}}"#, .invalid, "metadata.a"),
        (#"{"payload": 1, "metadata": [1]}"#, .invalid, "metadata"),
        (#"{"payload": 1, "not_before": "yesterday"}"#, .invalid, "not_before"),
        (#"{"payload": 1, "surprise": true}"#, .invalid, "surprise"),
        (#"{"type": "x"}"#, .invalid, "payload"),
        (#"{"payload": }"#, .malformed, "invalid JSON"),
        (#"[1, 2]"#, .malformed, "object"),
    ])
    func badSubmission(_ body: String, _ kind: SwitchboardError.Kind, _ field: String) {
        do {
            _ = try TaskSubmission(json: Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.kind == kind)
            #expect(error.detail.contains(field), "\(error.detail)")
        }
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("the ceiling doubles from the base and stops at the cap")
    func ceiling() {
        let policy = RetryPolicy(baseDelay: .milliseconds(500), maxDelay: .seconds(5))
        let ceilings = (1...7).map { policy.backoff().ceiling(afterAttempt: $0).wholeMilliseconds }
        #expect(ceilings == [500, 1000, 2000, 4000, 5000, 5000, 5000])
        #expect(policy.backoff().ceiling(afterAttempt: 500).wholeMilliseconds == 5000, "no overflow")
        #expect(policy.backoff(base: .milliseconds(100)).ceiling(afterAttempt: 2).wholeMilliseconds == 200, "a worker's own base")
    }

    @Test("one backoff for every retry loop: without jitter the wait is the ceiling; with it, within [0, ceiling]")
    func backoff() {
        let fixed = Backoff(base: .milliseconds(100), cap: .seconds(5), jitter: .none)
        #expect((1...8).map { fixed.delay(afterAttempt: $0).wholeMilliseconds } == [100, 200, 400, 800, 1600, 3200, 5000, 5000])
        let jittered = Backoff(base: .milliseconds(100), cap: .seconds(1))
        #expect(jittered.delay(afterAttempt: 3) { $0 } == .milliseconds(400))
        #expect(jittered.delay(afterAttempt: 3) { _ in 9999 } == .milliseconds(400), "clamped to the ceiling")
        #expect(jittered.delay(afterAttempt: 3) { _ in -5 } == .zero)
        for attempt in 1...20 {
            let delay = jittered.delay(afterAttempt: attempt)
            #expect(delay >= .zero && delay <= jittered.ceiling(afterAttempt: attempt))
        }
        #expect(Backoff(base: .seconds(1), cap: .seconds(2)).ceiling(afterAttempt: 0) == .seconds(1), "attempt 0 reads as the first")
    }

    @Test("full jitter stays within [0, ceiling]")
    func jitter() {
        let policy = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(60))
        let now = Timestamp(milliseconds: 1000)
        var task = TaskSubmission.toolCall("echo").asRecord()
        task.attempts = 3
        var seen: Set<Int64> = []
        for _ in 0..<500 {
            guard case .retry(let at) = policy.decide(task, retryable: true, now: now) else {
                Issue.record("expected a retry")
                return
            }
            #expect((1000...5000).contains(at.milliseconds))
            seen.insert(at.milliseconds)
        }
        #expect(seen.count > 50, "delays are spread out")
    }

    @Test("retries while attempts remain, then buries; non-retryable buries at once")
    func decisions() {
        let policy = RetryPolicy(jitter: { $0 })
        var task = TaskSubmission.toolCall("echo").asRecord()
        task.maxRetries = 2
        for (attempts, expectRetry) in [(1, true), (2, true), (3, false)] {
            task.attempts = attempts
            let decision = policy.decide(task, retryable: true, now: Timestamp(milliseconds: 0))
            #expect((decision != .bury) == expectRetry, "attempt \(attempts)")
        }
        task.attempts = 1
        #expect(policy.decide(task, retryable: false, now: Timestamp(milliseconds: 0)) == .bury)
        #expect(policy.decide(task, retryable: true, now: Timestamp(milliseconds: 0), baseDelay: .seconds(7)) == .retry(at: Timestamp(milliseconds: 7000)))
    }
}

extension TaskSubmission {
    func asRecord() -> TaskRecord {
        TaskRecord(
            id: "x", queue: "default", type: type ?? "tool_call", payload: payload, status: .running, maxRetries: 3,
            timeoutMS: 1000, createdAt: Timestamp(milliseconds: 0), updatedAt: Timestamp(milliseconds: 0))
    }
}

@Suite("Reading a task back from its JSON")
struct TaskRecordReadingTests {
    @Test("every field survives writing and reading; payload and result keep their bytes")
    func roundTrip() throws {
        let t = Timestamp(milliseconds: 1_800_000_000_123)
        let full = TaskRecord(
            id: "0193c1f0-aaaa", queue: "q", type: "tool_call", runID: "run-1", priority: 7, metadata: ["a": "b", "ü": "\"x\""],
            payload: try RawJSON(validating: #"{"tool_name": "echo",  "input": [1, 2.50]}"#), status: .dead, attempts: 2,
            maxRetries: 1, timeoutMS: 5000, lockKey: "repo", notBefore: t, createdAt: t, updatedAt: t + .milliseconds(5),
            startedAt: t + .milliseconds(1), finishedAt: t + .milliseconds(5), workerID: "w-1", leaseExpiresAt: nil,
            result: try RawJSON(validating: #"{"z": null}"#), error: "boom\nline two",
            errors: [TaskErrorEntry(attempt: 1, at: t, message: "first", workerID: nil), TaskErrorEntry(attempt: 2, at: t, message: "boom\nline two", workerID: "w-1")])
        let read = try TaskRecord(json: full.jsonBytes())
        #expect(read == full)
        #expect(read.payload.description == #"{"tool_name": "echo",  "input": [1, 2.50]}"#)
        let bare = TaskRecord(id: "x", queue: "q", type: "t", payload: .null, status: .pending, maxRetries: 0, timeoutMS: 1, createdAt: t, updatedAt: t)
        #expect(try TaskRecord(json: bare.jsonBytes()) == bare)
        #expect(throws: SwitchboardError.self) { try TaskRecord(json: Array(#"{"id": "x"}"#.utf8)) }
    }
}

@Suite("Reading a document in one pass")
struct JSONPullReaderTests {
    /// Reads `{"items": [...]}` of `{"n": integer, "s": string, "t": time, "raw": any}` objects.
    private func items(_ text: String) throws -> [(Int64?, String?, Timestamp?, String?)] {
        var reader = JSONPullReader(Array(text.utf8))
        var items: [(Int64?, String?, Timestamp?, String?)] = []
        try reader.beginObject()
        while let key = try reader.nextKey() {
            guard reader.key(key, is: "items") else {
                try reader.skipValue()
                continue
            }
            try reader.beginArray()
            while try reader.nextElement() {
                var item: (Int64?, String?, Timestamp?, String?) = (nil, nil, nil, nil)
                try reader.beginObject()
                while let key = try reader.nextKey() {
                    if reader.key(key, is: "n") {
                        item.0 = try reader.integer()
                    } else if reader.key(key, is: "s") {
                        item.1 = try reader.string()
                    } else if reader.key(key, is: "t") {
                        item.2 = try reader.timestamp()
                    } else if reader.key(key, is: "raw") {
                        item.3 = try reader.raw().description
                    } else {
                        try reader.skipValue()
                    }
                }
                items.append(item)
            }
        }
        try reader.end()
        return items
    }

    @Test("walks objects and arrays in order; skips what it is not asked for; null reads as nil")
    func walks() throws {
        let read = try items(
            #" { "before": [1, {"x": [true, null]}], "items" : [ {"n": -42, "s": "a\"b\u00fc", "t": "2026-11-27T10:00:00.123Z", "raw": {"k": [1, 2.5e3]}, "skip": "me"}, {}, {"n": null, "s": null, "t": null, "raw": null} ], "after": {} } "#)
        #expect(read.count == 3)
        #expect(read[0].0 == -42)
        #expect(read[0].1 == "a\"bü")
        #expect(read[0].2 == Timestamp(rfc3339: "2026-11-27T10:00:00.123Z"))
        #expect(read[0].3 == #"{"k": [1, 2.5e3]}"#)
        #expect(read[1].0 == nil && read[1].1 == nil && read[1].3 == nil)
        #expect(read[2].0 == nil && read[2].1 == nil && read[2].2 == nil && read[2].3 == "null")
        #expect(try items(#"{"items": []}"#).isEmpty)
        #expect(try items(#"{}"#).isEmpty)
    }

    @Test("times that repeat, alternate or differ in one character each read as themselves")
    func repeatedTimes() throws {
        let texts = [
            "2026-11-27T10:00:00.123Z", "2026-11-27T10:00:00.123Z", "2026-11-27T10:00:00.124Z", "2026-11-27T10:00:00.123Z",
            "2026-11-28T10:00:00.123Z", "2026-11-27T10:00:00.123+01:00", "2026-11-27T10:00:00.123Z", "2027-11-27T10:00:00.123Z",
        ]
        let read = try items("{\"items\": [" + texts.map { "{\"t\": \"\($0)\"}" }.joined(separator: ",") + "]}")
        #expect(read.map(\.2) == texts.map { Timestamp(rfc3339: $0) })
        #expect(read[4].2 != read[0].2 && read[5].2 != read[0].2 && read[7].2 != read[0].2)
    }

    @Test("a key written with escapes is the same key")
    func escapedKeys() throws {
        let read = try items(#"{"it\u0065ms": [{"\u006e": 7}]}"#)
        #expect(read.count == 1 && read[0].0 == 7)
    }

    @Test("numbers: whole ones in any spelling; fractions are refused")
    func numbers() throws {
        #expect(try items(#"{"items": [{"n": 1e3}, {"n": 9007199254740993}, {"n": -0}]}"#).map(\.0) == [1000, 9_007_199_254_740_993, 0])
        #expect(throws: SwitchboardError.self) { try items(#"{"items": [{"n": 1.5}]}"#) }
        #expect(throws: SwitchboardError.self) { try items(#"{"items": [{"n": "1"}]}"#) }
    }

    @Test(
        "malformed documents and values of the wrong kind are refused",
        arguments: [
            #"{"items": [{"n": 1} {"n": 2}]}"#, #"{"items": [{"n": 1},]}"#, #"{"items": [{"n": 1}]"#, #"{"items": [{"n": 1}]} x"#,
            #"{"items": [{"n" 1}]}"#, #"{"items": [{"s": 5}]}"#, #"{"items": [{"t": "yesterday"}]}"#, #"{"items": [{"raw": tru}]}"#,
            #"{"items": [{"s": "unterminated}]}"#, #"{"items": {"n": 1}}"#, #"{"items": [7]}"#, #"["items"]"#, "",
            #"{"items": [{"raw": "\#u{01}"}]}"#,
        ])
    func refuses(_ text: String) {
        #expect(throws: SwitchboardError.self) { try items(text) }
    }

    @Test("nesting is bounded as the scanner bounds it")
    func nesting() {
        let deep = #"{"items": [{"raw": "# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}]}"
        #expect(throws: SwitchboardError.self) { try items(deep) }
    }

    @Test("on mutated task documents it refuses whatever the validating scanner refuses, and never crashes")
    func fuzzAgainstScanner() {
        var rng = SystemRandomNumberGenerator()
        let t = Timestamp(milliseconds: 1_800_000_000_123)
        let seed = TaskRecord(
            id: "0193c1f0-aaaa", queue: "q", type: "tool_call", runID: "run-1", metadata: ["a": "b\u{e9}"],
            payload: .emptyObject, status: .dead, attempts: 2, maxRetries: 1, timeoutMS: 5000, createdAt: t, updatedAt: t,
            result: RawJSON(unchecked: Array(#"[1, {"z": null}]"#.utf8)), error: "boom\n",
            errors: [TaskErrorEntry(attempt: 1, at: t, message: "first", workerID: "w")]
        ).jsonBytes()
        let alphabet = Array(#"{}[]":,\ ".0123456789eE+-tfnulrsa"#.utf8) + [0x00, 0xC3, 0xA9, 0xFF, 0x0A]
        for _ in 0..<4000 {
            let bytes = mutated(seed, from: alphabet, using: &rng)
            let read = try? TaskRecord(json: bytes)
            if (try? JSONScanner.validate(bytes)) == nil {
                #expect(read == nil, "read a document the scanner refuses: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        var random = [UInt8](repeating: 0, count: 64)
        for _ in 0..<2000 {
            for j in random.indices { random[j] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? TaskRecord(json: random)
        }
    }

    @Test("a task's fields in another order, with fields it does not know, read the same")
    func taskInAnyOrder() throws {
        let t = Timestamp(milliseconds: 1_800_000_000_000)
        let task = TaskRecord(
            id: "id-1", queue: "q", type: "tool_call", metadata: ["k": "v"], payload: .emptyObject, status: .running, attempts: 1,
            maxRetries: 3, timeoutMS: 10, createdAt: t, updatedAt: t, workerID: "w")
        let text = #"{"future": {"a": [1]}, "worker_id": "w", "updated_at": "2027-01-15T08:00:00.000Z", "status": "running", "attempts": 1, "# +
            #""payload": {}, "queue": "q", "type": "tool_call", "max_retries": 3, "timeout_ms": 10, "metadata": {"k": "v"}, "# +
            #""created_at": "2027-01-15T08:00:00.000Z", "errors": null, "id": "id-1"}"#
        #expect(try TaskRecord(json: Array(text.utf8)) == task)
    }
}

/// `bytes` with one to three bytes replaced, removed or inserted from `alphabet` (never empty).
func mutated(_ bytes: [UInt8], from alphabet: [UInt8], using rng: inout some RandomNumberGenerator) -> [UInt8] {
    var bytes = bytes
    for _ in 0..<Int.random(in: 1...3, using: &rng) {
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: bytes[at] = alphabet.randomElement(using: &rng)!
        case 1: bytes.remove(at: at)
        default: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
        }
        if bytes.isEmpty { bytes = [0x30] }
    }
    return bytes
}
