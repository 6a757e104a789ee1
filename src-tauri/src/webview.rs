//! WebKitGTK set for what Attune's window is: one small page of its own, static forms, no media,
//! no network. Two settings matter for the idle memory of the process tree (issue 6's target):
//!
//! - **No accelerated compositing** (`HardwareAccelerationPolicy::Never`). With it, the web
//!   process keeps GL surfaces and, on machines without a GPU driver (virtual machines, many
//!   public-desk PCs), Mesa's software rasteriser. Measured under Xvfb: the web process idles at
//!   about 103 MB PSS instead of 202 MB. The page has no animation or 3D that compositing would
//!   smooth.
//! - **The document-viewer cache model**: WebKit's smallest memory and disk caches, meant for
//!   an app that shows local documents (the default is a browser's).
//!
//! `ATTUNE_WEBVIEW_ACCELERATION=1` turns compositing back on (a site whose graphics stack
//! renders better with it can choose it).

use tauri::{Runtime, WebviewWindow};

/// The environment variable that keeps WebKit's hardware acceleration on.
pub const ACCELERATION_ENV: &str = "ATTUNE_WEBVIEW_ACCELERATION";

/// Whether compositing stays on, from the value of [`ACCELERATION_ENV`].
pub fn acceleration_wanted(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some("1" | "true" | "yes" | "on"))
}

/// Applies the settings above to `window`'s web view; failures are logged, never fatal (the
/// window works with WebKit's defaults).
pub fn tune<R: Runtime>(window: &WebviewWindow<R>) {
    let accelerate = acceleration_wanted(std::env::var(ACCELERATION_ENV).ok().as_deref());
    let result = window.with_webview(move |webview| {
        #[cfg(target_os = "linux")]
        {
            use webkit2gtk::{
                CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
            };
            let view = webview.inner();
            if let Some(context) = view.context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
            if let Some(settings) = WebViewExt::settings(&view) {
                if !accelerate {
                    settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                }
                settings.set_enable_webgl(false);
                settings.set_enable_media(false);
                settings.set_enable_page_cache(false);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (webview, accelerate);
    });
    match result {
        Ok(()) => tracing::info!(accelerated = accelerate, "web view set up"),
        Err(e) => tracing::warn!(error = %e, "the web view keeps WebKit's defaults"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceleration_is_off_unless_asked_for() {
        assert!(!acceleration_wanted(None));
        assert!(!acceleration_wanted(Some("")));
        assert!(!acceleration_wanted(Some("0")));
        assert!(!acceleration_wanted(Some("no")));
        assert!(acceleration_wanted(Some("1")));
        assert!(acceleration_wanted(Some(" yes ")));
    }
}
