import Foundation
@testable import SwitchboardJSON
import SwitchboardTesting
import Testing

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
        #expect(throws: JSONError.self) { try JSONScanner.validate(Array(text.utf8)) }
    }

    @Test("invalid UTF-8 is refused", arguments: [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xFF, 0x22], [0x22, 0xE2, 0x82, 0x22]])
    func invalidUTF8(_ bytes: [UInt8]) {
        #expect(throws: JSONError.self) { try JSONScanner.validate(bytes) }
    }

    @Test("nesting is limited")
    func depth() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONError.self) { try JSONScanner.validate(Array(deep.utf8)) }
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
        #expect(throws: JSONError.shape("items[1].t.deep must be a string")) { try t.string("deep") }
        #expect(throws: JSONError.shape("unknown field 'items[1].u'")) { try items[1].rejectUnknown(allowed: ["t"]) }
    }

    @Test("the scanner agrees with Foundation on mutated documents, and never crashes")
    func fuzzAgainstFoundation() {
        var rng = SeededRandom()
        print("JSON scanner fuzz, \(rng)")
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
            #expect((try? JSONScanner.validate(Array(text.utf8))) == nil, "we accept what Foundation refuses: \(text); \(rng)")
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
        var rng = SeededRandom()
        // Mostly harmless bytes, with the ones that matter (and their neighbours) sprinkled in.
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0x9F, 0xA0, 0xDC, 0xE2, 0xFF]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...40, using: &rng)
            let bytes = (0..<count).map { _ in
                Int.random(in: 0..<8, using: &rng) == 0 ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0x23...0x5B, using: &rng)
            }
            let naive = bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            #expect(bytes.withUnsafeBufferPointer(JSONWriter.needsEscaping) == naive, "\(bytes); \(rng)")
            let from = Int.random(in: 0...count, using: &rng)
            let plainEnd = bytes[from...].firstIndex { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C } ?? count
            #expect(bytes.withUnsafeBufferPointer { ASCIIWord.plainRunEnd(in: $0, from: from, to: count) } == plainEnd, "\(bytes) from \(from); \(rng)")
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
            w.time(milliseconds: ms)
            let text = String(decoding: w.bytes.dropFirst().dropLast(), as: UTF8.self)
            #expect(RFC3339.milliseconds(Array(text.utf8)[...]) == ms, "\(ms) → \(text)")
        }
        var w = JSONWriter()
        w.time(milliseconds: 951_782_400_000)
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
        for ms in times { w.time(milliseconds: ms) }
        w.time(milliseconds: nil)
        w.endArray()
        w.key(computed: "k\"ey"); w.string("v")
        w.key("map"); w.stringMap(["b": "2", "a": "1"])
        w.endObject()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        let written = try #require(object["times"] as? [Any])
        #expect(written.count == times.count + 1)
        for (ms, text) in zip(times, written) {
            #expect(text as? String == RFC3339.string(milliseconds: ms), "\(ms)")
            #expect((text as? String).flatMap { RFC3339.milliseconds(Array($0.utf8)[...]) } == ms, "\(ms)")
        }
        #expect(written.last is NSNull)
        #expect(object["k\"ey"] as? String == "v")
        #expect(String(decoding: w.bytes, as: UTF8.self).hasSuffix(#""map":{"a":"1","b":"2"}}"#))
        // What `withBytes` lends is what `bytes` copies.
        #expect(w.withBytes { Array($0) } == w.bytes)
    }
}

@Suite("Reading a document in one pass")
struct JSONPullReaderTests {
    /// Reads `{"items": [...]}` of `{"n": integer, "s": string, "t": time, "raw": any}` objects.
    private func items(_ text: String) throws -> [(Int64?, String?, Int64?, String?)] {
        var reader = JSONPullReader(Array(text.utf8))
        var items: [(Int64?, String?, Int64?, String?)] = []
        try reader.beginObject()
        while let key = try reader.nextKey() {
            guard reader.key(key, is: "items") else {
                try reader.skipValue()
                continue
            }
            try reader.beginArray()
            while try reader.nextElement() {
                var item: (Int64?, String?, Int64?, String?) = (nil, nil, nil, nil)
                try reader.beginObject()
                while let key = try reader.nextKey() {
                    if reader.key(key, is: "n") {
                        item.0 = try reader.integer()
                    } else if reader.key(key, is: "s") {
                        item.1 = try reader.string()
                    } else if reader.key(key, is: "t") {
                        item.2 = try reader.time()
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
        #expect(read[0].2 == RFC3339.milliseconds(Array("2026-11-27T10:00:00.123Z".utf8)[...]))
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
        #expect(read.map(\.2) == texts.map { RFC3339.milliseconds(Array($0.utf8)[...]) })
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
        #expect(throws: JSONError.self) { try items(#"{"items": [{"n": 1.5}]}"#) }
        #expect(throws: JSONError.self) { try items(#"{"items": [{"n": "1"}]}"#) }
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
        #expect(throws: JSONError.self) { try items(text) }
    }

    @Test("nesting is bounded as the scanner bounds it")
    func nesting() {
        let deep = #"{"items": [{"raw": "# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}]}"
        #expect(throws: JSONError.self) { try items(deep) }
    }

}
