// swift-tools-version:6.2
// libFuzzer targets for the parsers that read what the network sends (issue 15): the wire
// format's task, submission and lease-answer readers, the Redis protocol decoder and the NATS
// protocol decoder. A package
// of its own because it is built with `-sanitize=fuzzer`; `scripts/fuzz.sh` builds and runs it.
import PackageDescription

// libFuzzer's runtime defines a `main` of its own; lld links the targets' (which call
// `LLVMFuzzerRunDriver`) where gold stumbled.
let linker: [LinkerSetting] = [.unsafeFlags(["-use-ld=lld"])]

let package = Package(
    name: "switchboard-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The main package, through a link named for it that scripts/fuzz.sh makes (a path
        // dependency is known by its folder's name, which a checkout does not fix).
        .package(path: "switchboard"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "FuzzTaskJSON",
            dependencies: [
                "FuzzDriver",
                .product(name: "SwitchboardAPI", package: "switchboard"),
                .product(name: "SwitchboardJSON", package: "switchboard"),
                .product(name: "SwitchboardCore", package: "switchboard"),
            ],
            linkerSettings: linker
        ),
        .executableTarget(
            name: "FuzzRESP",
            dependencies: [
                "FuzzDriver",
                .product(name: "SwitchboardRESP", package: "switchboard"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            linkerSettings: linker
        ),
        .executableTarget(
            name: "FuzzNATS",
            dependencies: [
                "FuzzDriver",
                .product(name: "SwitchboardNATSClient", package: "switchboard"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            linkerSettings: linker
        ),
    ]
)
