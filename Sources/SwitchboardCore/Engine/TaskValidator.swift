import SwitchboardJSON

/// Turns a submission into a complete task, or says precisely what is wrong with it.
struct TaskValidator {
    let configuration: EngineConfiguration

    private var limits: TaskLimits { configuration.limits }

    func validate(_ s: TaskSubmission, id generatedID: @autoclosure () -> String, now: Timestamp) throws(SwitchboardError) -> NewTask {
        if let id = s.id, !NamePattern.isIdentifier(id, maxLength: 128) {
            throw .invalid("id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        }
        let queue = s.queue ?? configuration.defaultQueue
        guard NamePattern.isIdentifier(queue, maxLength: 64) else {
            throw .invalid("queue must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        }
        let type = s.type ?? "tool_call"
        guard NamePattern.isTaskType(type) else {
            throw .invalid("type must match [a-z][a-z0-9_.-]{0,63}, e.g. tool_call, planning, validation")
        }
        if let run = s.runID, !NamePattern.isIdentifier(run, maxLength: 128) {
            throw .invalid("run_id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        }
        let priority = s.priority ?? 0
        guard (0...255).contains(priority) else { throw .invalid("priority must be between 0 and 255") }
        let metadata = s.metadata ?? [:]
        try validate(metadata: metadata)
        guard s.payload.bytes.count <= limits.maxPayloadBytes else {
            throw .tooLarge("payload is \(s.payload.bytes.count) bytes; the limit is \(limits.maxPayloadBytes)")
        }
        if type == "tool_call" { try validateToolCall(s.payload) }
        let maxRetries = s.maxRetries ?? configuration.defaultMaxRetries
        guard (0...limits.maxRetries).contains(maxRetries) else {
            throw .invalid("max_retries must be between 0 and \(limits.maxRetries)")
        }
        let timeoutMS = s.timeoutMS ?? configuration.defaultTimeout.wholeMilliseconds
        guard (1...limits.maxTimeout.wholeMilliseconds).contains(timeoutMS) else {
            throw .invalid("timeout_ms must be between 1 and \(limits.maxTimeout.wholeMilliseconds)")
        }
        if let key = s.lockKey, !NamePattern.isPrintable(key, maxLength: 256) {
            throw .invalid("lock_key must be 1-256 printable characters")
        }
        if let key = s.idempotencyKey, !NamePattern.isPrintable(key, maxLength: 256) {
            throw .invalid("the idempotency key must be 1-256 printable characters")
        }
        let notBefore = try dueTime(s, now: now)
        let record = TaskRecord(
            id: s.id ?? generatedID(), queue: queue, type: type, runID: s.runID, priority: UInt8(priority),
            metadata: metadata, payload: s.payload, status: notBefore.map { $0 > now ? .scheduled : .pending } ?? .pending,
            maxRetries: maxRetries, timeoutMS: timeoutMS, lockKey: s.lockKey, notBefore: notBefore,
            createdAt: now, updatedAt: now)
        return NewTask(
            record: record, idempotencyKey: s.idempotencyKey,
            idempotencyExpiresAt: s.idempotencyKey.map { _ in now + configuration.idempotencyTTL }, idIsFresh: s.id == nil)
    }

    private func validate(metadata: [String: String]) throws(SwitchboardError) {
        guard metadata.count <= limits.maxMetadataEntries else {
            throw .invalid("metadata may have at most \(limits.maxMetadataEntries) entries")
        }
        for (key, value) in metadata {
            guard !key.isEmpty, key.unicodeScalars.count <= limits.maxMetadataKeyLength else {
                throw .invalid("metadata keys must be 1-\(limits.maxMetadataKeyLength) characters")
            }
            guard value.unicodeScalars.count <= limits.maxMetadataValueLength else {
                throw .invalid("metadata.\(key) is longer than \(limits.maxMetadataValueLength) characters")
            }
        }
    }

    /// `{tool_name, input, reason}`: a tool name is required; input is any JSON; reason a string.
    private func validateToolCall(_ payload: RawJSON) throws(SwitchboardError) {
        guard let members = try? JSONScanner.members(ofObject: payload.bytes) else {
            throw .invalid("a tool_call payload must be an object {\"tool_name\", \"input\", \"reason\"}")
        }
        guard let name = members.first(where: { $0.key == "tool_name" }), name.kind == .string,
            !JSONScanner.string(in: payload.bytes, range: name.range).isEmpty
        else {
            throw .invalid("a tool_call payload needs a non-empty string tool_name")
        }
        if let reason = members.first(where: { $0.key == "reason" }), reason.kind != .string, reason.kind != .null {
            throw .invalid("payload.reason must be a string")
        }
    }

    private func dueTime(_ s: TaskSubmission, now: Timestamp) throws(SwitchboardError) -> Timestamp? {
        let maxDelayMS = limits.maxDelay.wholeMilliseconds
        switch (s.delayMS, s.notBefore) {
        case (.some, .some):
            throw .invalid("give delay_ms or not_before, not both")
        case (.some(let delay), nil):
            guard (0...maxDelayMS).contains(delay) else { throw .invalid("delay_ms must be between 0 and \(maxDelayMS)") }
            return delay == 0 ? nil : now + .milliseconds(delay)
        case (nil, .some(let time)):
            return time
        case (nil, nil):
            return nil
        }
    }

    func validate(_ request: LeaseRequest) throws(SwitchboardError) {
        guard NamePattern.isIdentifier(request.workerID, maxLength: 128) else {
            throw .invalid("worker_id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        }
        guard !request.queues.isEmpty, request.queues.count <= 32,
            request.queues.allSatisfy({ NamePattern.isIdentifier($0, maxLength: 64) })
        else {
            throw .invalid("queues must list 1-32 queue names")
        }
        guard (1...configuration.maxTasksPerLease).contains(request.maxTasks) else {
            throw .invalid("max_tasks must be between 1 and \(configuration.maxTasksPerLease)")
        }
        if let duration = request.leaseDuration {
            try validate(leaseDuration: duration, field: "lease_ms")
        }
        guard request.wait >= .zero, request.wait <= configuration.maxLeaseWait else {
            throw .invalid("wait_ms must be between 0 and \(configuration.maxLeaseWait.wholeMilliseconds)")
        }
        if let host = request.host, !NamePattern.isPrintable(host, maxLength: 255) {
            throw .invalid("host must be 1-255 printable characters")
        }
        if let slots = request.slots, !(1...100_000).contains(slots) { throw .invalid("slots must be between 1 and 100000") }
        if let tools = request.tools {
            guard tools.count <= 1000, tools.allSatisfy({ NamePattern.isPrintable($0.name, maxLength: 200) }) else {
                throw .invalid("tools must list at most 1000 tools, each named by 1-200 printable characters")
            }
            guard tools.allSatisfy({ $0.lockKey.map { NamePattern.isPrintable($0, maxLength: 256) } ?? true }) else {
                throw .invalid("a tool's lock_key must be 1-256 printable characters")
            }
            guard tools.allSatisfy({ $0.description.unicodeScalars.count <= 4096 && ($0.inputSchema?.bytes.count ?? 0) <= 65_536 }) else {
                throw .invalid("a tool's description is at most 4096 characters, its input_schema at most 64 KiB")
            }
        }
    }

    /// The worker id a heartbeat or release names (it only feeds `GET /v1/workers`).
    func validate(workerID: String?) throws(SwitchboardError) {
        if let workerID, !NamePattern.isIdentifier(workerID, maxLength: 128) {
            throw .invalid("worker_id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        }
    }

    /// An `Idempotency-Key` header: printable ASCII, 1-256 characters (stricter than the field,
    /// since a header is ASCII on the wire).
    func validate(idempotencyHeader key: String) throws(SwitchboardError) {
        guard !key.isEmpty, key.utf8.count <= 256, key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .invalid("the Idempotency-Key header must be 1-256 printable ASCII characters")
        }
    }

    func validate(leaseDuration: Duration, field: String) throws(SwitchboardError) {
        guard leaseDuration >= configuration.minLeaseDuration, leaseDuration <= configuration.maxLeaseDuration else {
            throw .invalid(
                "\(field) must be between \(configuration.minLeaseDuration.wholeMilliseconds) and \(configuration.maxLeaseDuration.wholeMilliseconds)"
            )
        }
    }

    func validate(result: RawJSON?) throws(SwitchboardError) {
        if let result, result.bytes.count > limits.maxResultBytes {
            throw .tooLarge("result is \(result.bytes.count) bytes; the limit is \(limits.maxResultBytes)")
        }
    }

    /// Filters name things, so they follow the same rules as the names they match.
    func validate(_ filter: TaskFilter) throws(SwitchboardError) {
        if let queue = filter.queue { try validate(queueName: queue) }
        if let type = filter.type, !NamePattern.isTaskType(type) {
            throw .invalid("type must match [a-z][a-z0-9_.-]{0,63}")
        }
        if let run = filter.runID, !NamePattern.isIdentifier(run, maxLength: 128) {
            throw .invalid("run_id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        }
    }

    func validate(queueName: String) throws(SwitchboardError) {
        guard NamePattern.isIdentifier(queueName, maxLength: 64) else {
            throw .invalid("queue must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        }
    }

    /// Cuts a failure message to the limit on a character boundary.
    /// A worker's own retry limit and base delay, as a remote worker sends them.
    func validate(_ failure: TaskFailureReport) throws(SwitchboardError) {
        if let maxRetries = failure.maxRetries, !(0...configuration.limits.maxRetries).contains(maxRetries) {
            throw .invalid("max_retries must be between 0 and \(configuration.limits.maxRetries)")
        }
        if let delay = failure.retryDelay, delay < .zero || delay > configuration.retry.maxDelay {
            throw .invalid("retry_delay_ms must be between 0 and \(configuration.retry.maxDelay.wholeMilliseconds)")
        }
    }

    func truncated(message: String) -> String {
        guard message.utf8.count > limits.maxErrorMessageLength else { return message }
        var cut = ""
        for character in message {
            if cut.utf8.count + character.utf8.count > limits.maxErrorMessageLength - 3 { break }
            cut.append(character)
        }
        return cut + "..."
    }
}
