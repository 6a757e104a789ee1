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
//! - **No GL in the app's own process** (`GDK_GL=disable`, set before GTK starts). GDK otherwise
//!   probes GLX for its visuals when it opens the display, which loads Mesa's driver (and with
//!   the software one, LLVM) into the app even while it sits in the tray with no window: about
//!   20 MB of PSS under Xvfb, for GL nobody uses once compositing is off.
//!
//! `ATTUNE_WEBVIEW_ACCELERATION=1` turns compositing (and GDK's GL) back on (a site whose
//! graphics stack renders better with it can choose it).

use tauri::{Runtime, WebviewWindow};

/// The environment variable that keeps WebKit's hardware acceleration on.
pub const ACCELERATION_ENV: &str = "ATTUNE_WEBVIEW_ACCELERATION";

/// Whether compositing stays on, from the value of [`ACCELERATION_ENV`].
pub fn acceleration_wanted(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some("1" | "true" | "yes" | "on"))
}

/// GDK's switch for GL.
pub const GDK_GL_ENV: &str = "GDK_GL";

/// The value for [`GDK_GL_ENV`] the app starts with, given the values of [`ACCELERATION_ENV`]
/// and of `GDK_GL` itself (`None`: leave it; a value someone set is theirs).
pub fn gdk_gl_value(acceleration: Option<&str>, gdk_gl: Option<&str>) -> Option<&'static str> {
    (!acceleration_wanted(acceleration) && gdk_gl.is_none()).then_some("disable")
}

/// Sets the process's environment for the settings above. Call first thing in `main`, before
/// GTK starts and before any other thread exists (the environment is process-wide).
pub fn prepare_environment() {
    let acceleration = std::env::var(ACCELERATION_ENV).ok();
    let gdk_gl = std::env::var(GDK_GL_ENV).ok();
    if let Some(v) = gdk_gl_value(acceleration.as_deref(), gdk_gl.as_deref()) {
        std::env::set_var(GDK_GL_ENV, v);
    }
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

    #[test]
    fn gdk_gl_is_disabled_unless_acceleration_is_wanted_or_someone_chose() {
        assert_eq!(gdk_gl_value(None, None), Some("disable"));
        assert_eq!(gdk_gl_value(Some("1"), None), None);
        assert_eq!(gdk_gl_value(None, Some("always")), None);
    }
}
