/// The operator's page (`Public/`) and the contract (`openapi.yaml`), compiled into the binary
/// (SwiftPM's `embedInCode`, through symbolic links to the files at the package's top), so that
/// a server run from any directory — an installed binary, a systemd unit, a container — serves
/// them. Every file of `Public/` must be listed here and in Package.swift: `EmbeddedAssetsTests`
/// fails on one that is not.
public enum EmbeddedAssets {
    /// `Public/`'s files by their path under it.
    public static let publicFiles: [String: [UInt8]] = [
        "index.html": PackageResources.index_html,
        "app.css": PackageResources.app_css,
        "app.js": PackageResources.app_js,
        "charts.js": PackageResources.charts_js,
        "live.js": PackageResources.live_js,
        "views.js": PackageResources.views_js,
    ]

    public static var openAPI: [UInt8] { PackageResources.openapi_yaml }
}
