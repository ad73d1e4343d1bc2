import MCP

/// Checks a tool call's arguments against the tool's `inputSchema` before the call, so that bad
/// input is a clear, permanent failure of the task instead of a confused server. The JSON Schema
/// subset MCP servers put in tool schemas: `type` (one or several), `enum`, `const`, `required`,
/// `properties`, `additionalProperties: false`, `items`, `minimum`/`maximum`,
/// `minLength`/`maxLength`. Other keywords are not checked (the server still is the judge).
enum InputSchema {
    /// Why `value` does not match `schema`, or nil when it does (as far as checked).
    static func problem(_ value: Value, schema: Value, at path: String = "input") -> String? {
        guard case .object(let rules) = schema else { return nil }
        if let type = rules["type"], !matches(value, type: type) {
            return "\(path) must be \(describe(type)), not \(kind(of: value))"
        }
        if case .array(let options)? = rules["enum"], !options.contains(where: { same($0, value) }) {
            return "\(path) must be one of \(options.map(text).joined(separator: ", "))"
        }
        if let constant = rules["const"], !same(constant, value) { return "\(path) must be \(text(constant))" }
        switch value {
        case .object(let members):
            if case .array(let required)? = rules["required"] {
                for case .string(let name) in required where members[name] == nil { return "\(path).\(name) is required" }
            }
            var properties: [String: Value] = [:]
            if case .object(let declared)? = rules["properties"] { properties = declared }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let rule = properties[name] {
                    if let problem = problem(member, schema: rule, at: "\(path).\(name)") { return problem }
                } else if case .bool(false)? = rules["additionalProperties"] {
                    return "\(path).\(name) is not a parameter of this tool"
                }
            }
        case .array(let items):
            if let rule = rules["items"] {
                for (index, item) in items.enumerated() {
                    if let problem = problem(item, schema: rule, at: "\(path)[\(index)]") { return problem }
                }
            }
        case .int, .double:
            let number = value.doubleValue ?? Double(value.intValue ?? 0)
            if let minimum = rules["minimum"].flatMap(numeric), number < minimum { return "\(path) must be at least \(text(rules["minimum"]!))" }
            if let maximum = rules["maximum"].flatMap(numeric), number > maximum { return "\(path) must be at most \(text(rules["maximum"]!))" }
        case .string(let string):
            if let least = rules["minLength"].flatMap(numeric), Double(string.count) < least { return "\(path) is shorter than \(Int(least)) characters" }
            if let most = rules["maxLength"].flatMap(numeric), Double(string.count) > most { return "\(path) is longer than \(Int(most)) characters" }
        default:
            break
        }
        return nil
    }

    private static func matches(_ value: Value, type: Value) -> Bool {
        switch type {
        case .string(let name): matches(value, name)
        case .array(let names): names.contains { if case .string(let name) = $0 { matches(value, name) } else { false } }
        default: true
        }
    }

    private static func matches(_ value: Value, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null): true
        case ("integer", .int): true
        case ("integer", .double(let d)): d.rounded() == d
        case ("number", .int), ("number", .double): true
        case ("object", _), ("array", _), ("string", _), ("boolean", _), ("null", _), ("integer", _), ("number", _): false
        default: true  // a type this check does not know: the server decides
        }
    }

    private static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
        default: a == b
        }
    }

    private static func numeric(_ value: Value) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    private static func describe(_ type: Value) -> String {
        switch type {
        case .string(let name): article(name)
        case .array(let names): names.map { if case .string(let n) = $0 { article(n) } else { "?" } }.joined(separator: " or ")
        default: "valid"
        }
    }

    private static func article(_ type: String) -> String {
        ["object", "array", "integer"].contains(type) ? "an \(type)" : type == "null" ? "null" : "a \(type)"
    }

    private static func kind(of value: Value) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .data: "data"
        case .array: "an array"
        case .object: "an object"
        }
    }

    private static func text(_ value: Value) -> String {
        switch value {
        case .string(let s): "\"\(s)\""
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .null: "null"
        default: kind(of: value)
        }
    }
}
