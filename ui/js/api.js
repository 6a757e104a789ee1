// The one door to the Tauri shell (docs/app.md). Everything the page asks of Rust goes through
// here, so tests substitute `window.__TAURI__` with a mock (ui/tests/mock-tauri.js) and nothing
// else changes. Commands reject with an AppError `{ kind, message }`; anything else thrown is
// turned into one so the page always has a `message` to show.

/** The event that carries every new AppStatus. */
export const STATUS_EVENT = 'attune://status';

function tauri() {
  const t = window.__TAURI__;
  if (!t || !t.core || !t.event) {
    throw { kind: 'internal', message: 'Attune could not reach its desktop part. Please restart Attune.' };
  }
  return t;
}

function asAppError(err) {
  if (err && typeof err === 'object' && typeof err.message === 'string') {
    return { kind: typeof err.kind === 'string' ? err.kind : 'internal', message: err.message };
  }
  return { kind: 'internal', message: typeof err === 'string' ? err : 'Something went wrong.' };
}

async function invoke(command, args) {
  try {
    return await tauri().core.invoke(command, args);
  } catch (err) {
    throw asAppError(err);
  }
}

export const getStatus = () => invoke('get_status');
export const listSnapsets = () => invoke('list_snapsets');
export const keyIn = (key) => invoke('key_in', { key });
export const keyOut = () => invoke('key_out');
export const relogin = () => invoke('relogin');
export const setPreference = (term, value) => invoke('set_preference', { term, value });
export const captureDesktop = () => invoke('capture_desktop');
export const saveCapture = (ids) => invoke('save_capture', { ids });
export const forgetMe = (everywhere, dropUnsent) => invoke('forget_me', { everywhere, dropUnsent });
export const saveToStick = () => invoke('save_to_stick');
export const getDiagnostics = () => invoke('get_diagnostics');
export const supportBundle = () => invoke('support_bundle');

/** The event that carries what a key-in listener saw (`{ kind, text }`). */
export const LISTENER_EVENT = 'attune://listener';

/** Calls `onNotice({ kind, text })` for every `attune://listener` event. */
export function onListener(onNotice) {
  return tauri().event.listen(LISTENER_EVENT, (event) => onNotice(event.payload));
}

/** Calls `onStatus(AppStatus)` for every `attune://status` event; resolves to an unlisten function. */
export function onStatus(onStatus) {
  return tauri().event.listen(STATUS_EVENT, (event) => onStatus(event.payload));
}
