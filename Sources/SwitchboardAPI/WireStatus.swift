import SwitchboardCore

/// The HTTP status each kind of error travels as, one table for the server that sends it and
/// the client that reads it back.
public enum WireStatus {
    public static func code(of kind: SwitchboardError.Kind) -> Int {
        switch kind {
        case .malformed: 400
        case .notFound: 404
        case .conflict: 409
        case .tooLarge: 413
        case .invalid: 422
        case .overloaded: 429
        case .unsupported: 501
        case .unavailable: 503
        case .insufficientStorage: 507
        }
    }

    /// The reason phrase of the statuses errors travel as (a problem's `title`).
    public static func reason(of kind: SwitchboardError.Kind) -> String {
        switch kind {
        case .malformed: "Bad Request"
        case .notFound: "Not Found"
        case .conflict: "Conflict"
        case .tooLarge: "Content Too Large"
        case .invalid: "Unprocessable Content"
        case .overloaded: "Too Many Requests"
        case .unsupported: "Not Implemented"
        case .unavailable: "Service Unavailable"
        case .insufficientStorage: "Insufficient Storage"
        }
    }

    /// The kind a status stands for, when it stands for one.
    public static func kind(of code: Int) -> SwitchboardError.Kind? {
        switch code {
        case 400: .malformed
        case 404: .notFound
        case 409: .conflict
        case 413: .tooLarge
        case 422: .invalid
        case 429: .overloaded
        case 501: .unsupported
        case 503: .unavailable
        case 507: .insufficientStorage
        default: nil
        }
    }
}
