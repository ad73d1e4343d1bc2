/// What `switchboard --version` prints: the release, and how this binary was built.
enum BuildInfo {
    /// The release; bumped with each tagged one.
    static let version = "0.9.0"

    static var configuration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    static var compiler: String {
        #if compiler(>=6.3)
        "Swift 6.3+"
        #elseif compiler(>=6.2)
        "Swift 6.2"
        #else
        "Swift 6.1 or older"
        #endif
    }

    static var description: String { "switchboard \(version) (\(configuration) build, \(compiler))" }
}
