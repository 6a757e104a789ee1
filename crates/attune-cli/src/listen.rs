//! `attune listen`: the listeners without the app.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use attune_flow::{Flow, FlowError};
use attune_listen::owner::{self, ListenerLock, Owner};
use attune_listen::queue::KeyQueue;
use attune_listen::{local_api, usb};

use crate::ListenArgs;

fn line(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

pub fn run(flow: Flow, args: &ListenArgs) -> Result<i32, FlowError> {
    // Finish whatever a crash left before listening, and on a shared computer key out a
    // session from an earlier boot.
    if let Some(r) = flow.start_up()? {
        line(&serde_json::json!({"event": "recovered", "message": r.message_text}));
    }
    let local_api_addr = if args.no_local_api {
        None
    } else if let Some(a) = args.local_api {
        Some(a)
    } else {
        flow.config().local_api.address()
    };
    let usb_on = !args.no_usb && flow.config().usb.enabled;
    // One process owns keying: the app may be running these listeners already.
    let _owner = if usb_on || local_api_addr.is_some() {
        match ListenerLock::acquire(&owner::lock_path(&flow.paths().state_dir), Owner::Cli) {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("attune: {e}");
                return Ok(1);
            }
        }
    } else {
        None
    };
    // What the flow does while a key-in is under way: settings applied (from the cache, the
    // stick, a snapset) before the cloud has answered.
    flow.set_observer(Arc::new(|e: &attune_flow::FlowEvent| {
        line(&serde_json::to_value(e).unwrap_or_default())
    }));
    let flow = Arc::new(flow);
    let queue = KeyQueue::start(flow.clone());
    let events = queue.subscribe();
    std::thread::spawn(move || {
        while let Ok(e) = events.recv() {
            line(&serde_json::to_value(&e).unwrap_or_default());
        }
    });

    let _reconnect = (flow.config().profile != attune_flow::Profile::Testing).then(|| {
        // It keeps asking the cloud, so the flow's messages may say "We'll keep trying".
        flow.set_reconnects_in_background(true);
        attune_listen::reconnect::Reconnector::start(
            queue.clone(),
            Duration::from_millis(args.reconnect_idle_ms.max(10)),
        )
    });
    let _usb = usb_on.then(|| {
        let roots = if args.usb_roots.is_empty() {
            usb::roots_of(&flow.config().usb)
        } else {
            args.usb_roots.clone()
        };
        line(&serde_json::json!({"event": "watching", "usb_roots": roots}));
        // A stick seen, as it is seen (before its key-in has run).
        let seen: usb::StickObserver = Box::new(|e: usb::StickEvent| {
            let v = match e {
                usb::StickEvent::Found { volume } => {
                    serde_json::json!({"event": "stick_found", "volume": volume})
                }
                usb::StickEvent::Removed { volume } => {
                    serde_json::json!({"event": "stick_removed", "volume": volume})
                }
                usb::StickEvent::Blank { volume } => {
                    serde_json::json!({"event": "stick_blank", "volume": volume})
                }
                usb::StickEvent::BlankGone { volume } => {
                    serde_json::json!({"event": "stick_blank_gone", "volume": volume})
                }
            };
            line(&v)
        });
        usb::UsbListener::start_observed(
            roots,
            Duration::from_millis(args.poll_ms.max(10)),
            queue.clone(),
            seen,
        )
    });

    let tell: attune_listen::shared::Tell =
        Arc::new(|n| line(&serde_json::to_value(&n).unwrap_or_default()));
    let shared = attune_listen::shared::start(&flow, &queue, tell.clone());
    for p in &shared.problems {
        line(&serde_json::json!({"event": "not_running", "what": p}));
    }
    let shared_computer = flow.config().session.shared_computer;
    let end_queue = queue.clone();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| FlowError::NotAvailable {
            what: format!("the async runtime ({e})"),
        })?;
    let code = rt.block_on(async move {
        let shutdown = async {
            let on = |kind| async move {
                match tokio::signal::unix::signal(kind) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            use tokio::signal::unix::SignalKind;
            // SIGTERM and SIGHUP: the desktop session is ending.
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = on(SignalKind::terminate()) => {},
                _ = on(SignalKind::hangup()) => {},
            }
        };
        match local_api_addr {
            Some(addr) => match local_api::bind(addr).await {
                Ok(l) => {
                    let bound = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    line(&serde_json::json!({"event": "listening", "local_api": bound}));
                    if let Err(e) = local_api::serve(l, queue, flow, shutdown).await {
                        tracing::error!(error = %e, "local API stopped");
                    }
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("attune: {e}");
                    Ok(1)
                }
            },
            None => {
                line(&serde_json::json!({"event": "listening", "local_api": null}));
                shutdown.await;
                Ok(0)
            }
        }
    });
    // A shared computer is put back before the session goes (docs/design.md §10.2).
    if shared_computer {
        attune_listen::shared::end_session(
            &end_queue,
            attune_flow::KeyOutCause::SessionEnd,
            attune_listen::shared::SESSION_END_WITHIN,
            &tell,
        );
    }
    drop(shared);
    code
}
