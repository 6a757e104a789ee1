// Serves ui/ with the test mock, to try every UI state in a browser by hand:
//   node tests/preview.mjs [port]   then open http://127.0.0.1:<port>/ and pick a state.
// Commands answer as in tests/scenarios.json (the mock records them in window.__ATTUNE_MOCK__).
import { startServer } from './harness.mjs';

const port = Number(process.argv[2] || 8377);
const { url } = await startServer({ preview: true, port });
console.log(`Attune UI preview: ${url} (Ctrl+C to stop)`);
