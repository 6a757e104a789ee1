//! The key-in listeners, hosted by the app (docs/app.md, docs/design.md §10.2): the USB-stick
//! listener (`[usb]`) and GPII's local API (`[local_api]`), both feeding the app's one key-in
//! queue. One process owns them ([`attune_listen::owner`]): when `attune listen` already runs
//! them, the app runs none and says so, naming its pid.
//!
//! What the listeners are doing is part of the status (`listeners`: the page mentions the stick
//! only when the USB listener runs), and what the stick listener sees is sent as it happens on
//! [`LISTENER_EVENT`] ("USB key found", "USB key removed").

use std::sync::Arc;
use std::time::Duration;

use attune_flow::Flow;
use attune_flow::Message;
use attune_listen::owner::{self, ListenerLock, Owner};
use attune_listen::queue::{Event, KeyQueue, Via};
use attune_listen::shared::{SharedComputer, SharedNotice};
use attune_listen::usb::{self, StickEvent};
use attune_listen::{local_api, usb::UsbListener};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::notices::Notice;

/// The event that carries a [`ListenerNotice`] (docs/app.md).
pub const LISTENER_EVENT: &str = "attune://listener";

/// How often the mount roots are rescanned when no file event arrives.
const USB_POLL: Duration = Duration::from_secs(2);

/// `listeners` in `AppStatus`: which listeners this app runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listeners {
    /// The USB-stick listener runs here (the page then mentions the stick).
    pub usb: bool,
    /// The address the local API serves, if it runs here.
    pub local_api: Option<String>,
    /// Why a listener the configuration asks for is not running here (another process holds
    /// them, naming its pid; the API's port is taken), or null.
    pub problem: Option<String>,
}

/// What a listener saw, for the key-in screen: `kind` for the page, `text` to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerNotice {
    pub kind: &'static str,
    pub text: String,
}

impl ListenerNotice {
    /// The notice for a stick with a key coming or going; a blank stick has none (the status's
    /// `usb_key` offers to save to it).
    pub fn of_stick(e: &StickEvent) -> Option<ListenerNotice> {
        match e {
            StickEvent::Found { .. } => Some(ListenerNotice {
                kind: "usb_key_found",
                text: Message::UsbKeyFound.text().to_owned(),
            }),
            StickEvent::Removed { .. } => Some(ListenerNotice {
                kind: "usb_key_removed",
                text: Message::UsbKeyRemoved.text().to_owned(),
            }),
            StickEvent::Blank { .. } | StickEvent::BlankGone { .. } => None,
        }
    }

    /// The notice for what a shared computer's policy does (the idle warning, its end, a
    /// key-out): the page shows the warning as a banner.
    pub fn of_shared(n: &SharedNotice) -> ListenerNotice {
        match n {
            SharedNotice::IdleKeyOutSoon { text, .. } => ListenerNotice {
                kind: "idle_key_out_soon",
                text: text.clone(),
            },
            SharedNotice::IdleKeyOutCancelled { text } => ListenerNotice {
                kind: "idle_key_out_cancelled",
                text: text.clone(),
            },
            SharedNotice::KeyedOut { text, .. } => ListenerNotice {
                kind: "keyed_out_by_policy",
                text: text.clone(),
            },
        }
    }

    /// The notice for a queue event, if it is the stick's refusal (a bad token, a second
    /// stick); key-ins and key-outs show in the status itself.
    pub fn of_queue(e: &Event) -> Option<ListenerNotice> {
        match e {
            Event::Refused {
                via: Via::UsbStick,
                reason,
            } => Some(ListenerNotice {
                kind: "usb_key_not_used",
                text: Message::UsbKeyNotUsed.with(&[("reason", reason)]),
            }),
            _ => None,
        }
    }
}

/// Sends a notice to the window (if there is one; it is logged either way).
pub fn tell<R: Runtime>(app: &AppHandle<R>, notice: &ListenerNotice) {
    tracing::info!(kind = notice.kind, "listener notice");
    if let Err(e) = app.emit(LISTENER_EVENT, notice) {
        tracing::warn!(error = %e, "cannot send a listener notice to the window");
    }
}

/// Starts a shared computer's idle and shutdown key-outs (those the configuration asks for);
/// what they do is told as a notice, and as a notification for the warning and the key-out.
fn start_shared<R: Runtime>(
    app: &AppHandle<R>,
    flow: &Arc<Flow>,
    queue: &KeyQueue,
) -> SharedComputer {
    let handle = app.clone();
    attune_listen::shared::start(
        flow,
        queue,
        Arc::new(move |n: SharedNotice| {
            tell(&handle, &ListenerNotice::of_shared(&n));
            if let Some(notice) = Notice::of_shared(&n) {
                handle.state::<crate::Shell>().notify(&notice);
            }
        }),
    )
}

/// The running listeners; dropping it stops the USB listener and lets another process take
/// them (the local API's task ends with the app).
pub struct Hosted {
    pub listeners: Listeners,
    queue: KeyQueue,
    usb: std::sync::Mutex<Option<UsbListener>>,
    /// A shared computer's idle and shutdown key-outs, run by the process that owns keying.
    shared: std::sync::Mutex<Option<SharedComputer>>,
    _lock: Option<ListenerLock>,
}

impl Hosted {
    /// Stops the USB listener (it queues nothing more) and waits until every request queued
    /// before now has run: the queue runs them in order, so the answer to one more request
    /// means none is left. Called before the app starts afresh in the tray.
    pub fn quiesce(&self) {
        let usb = self.usb.lock().ok().and_then(|mut u| u.take());
        drop(usb);
        let shared = self.shared.lock().ok().and_then(|mut s| s.take());
        drop(shared);
        let _ = self
            .queue
            .call_blocking(Via::Background, attune_listen::queue::Request::Reconnect);
    }
}

/// Starts the listeners the configuration asks for, on `queue`; never fails: what could not
/// start is in [`Listeners::problem`] and the log.
pub async fn start<R: Runtime>(app: &AppHandle<R>, flow: &Arc<Flow>, queue: &KeyQueue) -> Hosted {
    let config = flow.config();
    let api_addr = config.local_api.address();
    let mut hosted = Hosted {
        listeners: Listeners::default(),
        queue: queue.clone(),
        usb: std::sync::Mutex::new(None),
        shared: std::sync::Mutex::new(None),
        _lock: None,
    };
    if !config.usb.enabled && api_addr.is_none() {
        tracing::info!("no listeners configured");
        hosted.shared = std::sync::Mutex::new(Some(start_shared(app, flow, queue)));
        return hosted;
    }
    match ListenerLock::acquire(&owner::lock_path(&flow.paths().state_dir), Owner::App) {
        Ok(lock) => hosted._lock = Some(lock),
        Err(e) => {
            // The process that owns keying runs the shared-computer rules too.
            tracing::warn!(error = %e, "the listeners run elsewhere");
            hosted.listeners.problem = Some(e.to_string());
            return hosted;
        }
    }
    hosted.shared = std::sync::Mutex::new(Some(start_shared(app, flow, queue)));
    if config.usb.enabled {
        let roots = usb::roots_of(&config.usb);
        tracing::info!(roots = ?roots, "watching for USB keys");
        let handle = app.clone();
        hosted.usb = std::sync::Mutex::new(Some(UsbListener::start_observed(
            roots,
            USB_POLL,
            queue.clone(),
            Box::new(move |e| {
                // Which stick is in, for "Save my settings to this USB key".
                let shell = handle.state::<crate::Shell>();
                match &e {
                    StickEvent::Found { volume } | StickEvent::Blank { volume } => {
                        shell.stick_seen(Some(volume.clone()), None)
                    }
                    StickEvent::Removed { volume } | StickEvent::BlankGone { volume } => {
                        shell.stick_seen(None, Some(volume))
                    }
                }
                if let Some(n) = ListenerNotice::of_stick(&e) {
                    tell(&handle, &n);
                }
                let app = handle.clone();
                tauri::async_runtime::spawn(async move { crate::shell::refresh(&app).await });
            }),
        )));
        hosted.listeners.usb = true;
    }
    if let Some(addr) = api_addr {
        match local_api::bind(addr).await {
            Ok(listener) => {
                let bound = listener.local_addr().map_or(addr, |a| a);
                tracing::info!(%bound, "local API listening");
                hosted.listeners.local_api = Some(bound.to_string());
                let (queue, flow) = (queue.clone(), flow.clone());
                tauri::async_runtime::spawn(async move {
                    let forever = std::future::pending::<()>();
                    if let Err(e) = local_api::serve(listener, queue, flow, forever).await {
                        tracing::error!(error = %e, "the local API stopped");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "no local API");
                hosted.listeners.problem = Some(e.to_string());
            }
        }
    }
    hosted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stick_events_and_stick_refusals_have_their_words() {
        let vol = std::path::PathBuf::from("/media/u/STICK");
        assert_eq!(
            ListenerNotice::of_stick(&StickEvent::Found {
                volume: vol.clone()
            })
            .map(|n| n.text),
            Some("USB key found".to_owned())
        );
        assert_eq!(
            ListenerNotice::of_stick(&StickEvent::Removed {
                volume: vol.clone()
            })
            .map(|n| n.kind),
            Some("usb_key_removed")
        );
        assert_eq!(
            ListenerNotice::of_stick(&StickEvent::Blank { volume: vol }),
            None
        );
        let refused = Event::Refused {
            via: Via::UsbStick,
            reason: "another stick is already in use".to_owned(),
        };
        assert!(ListenerNotice::of_queue(&refused)
            .is_some_and(|n| n.text.ends_with("another stick is already in use")));
        let api = Event::Refused {
            via: Via::LocalApi,
            reason: "x".to_owned(),
        };
        assert_eq!(ListenerNotice::of_queue(&api), None);
    }
}
