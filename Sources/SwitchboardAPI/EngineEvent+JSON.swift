import SwitchboardCore
import SwitchboardJSON

extension EngineEvent {
    /// `{"id", "type", "at", "queue", "task": {…}, "count", "lock": {…}}`, absent parts left out.
    public func write(id: String, to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("type"); w.string(kind.rawValue)
        w.key("at"); w.timestamp(at)
        if let queue { w.key("queue"); w.string(queue) }
        if let task {
            w.key("task")
            w.beginObject()
            w.key("id"); w.string(task.id)
            w.key("queue"); w.string(task.queue)
            w.key("type"); w.string(task.type)
            w.key("status"); w.string(task.status.rawValue)
            w.key("run_id"); w.string(task.runID)
            w.key("attempts"); w.int(task.attempts)
            w.key("worker_id"); w.string(task.workerID)
            w.key("error"); w.string(task.error)
            w.key("updated_at"); w.timestamp(task.updatedAt)
            w.endObject()
        }
        if let count { w.key("count"); w.int(count) }
        if let lock { w.key("lock"); lock.write(to: &w) }
        w.endObject()
    }
}
