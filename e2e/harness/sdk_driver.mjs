// One step of an Agent SDK scenario, run by harness.Session.SDKQuery and
// SDKFork under the session's clean environment. The step is JSON in
// argv[2]:
//   {"action": "query", "prompt": "…", "options": {…}}  query() with the CLI
//       at $CLAUDE_BIN; options (resume, forkSession, …) go over the fixed ones
//   {"action": "fork", "sessionId": "…", "options": {…}}  forkSession(): an
//       in-process copy of the session's transcript (no CLI, no API call)
// Each SDK message is printed as one JSON line, then
// {"type": "driver_result", "session_id": …}. $WEAVE_AGENT_SDK is the SDK's
// entry module.
import { pathToFileURL } from 'node:url';

const sdk = await import(pathToFileURL(process.env.WEAVE_AGENT_SDK).href);
const step = JSON.parse(process.argv[2]);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const env = { ...process.env };
delete env.WEAVE_AGENT_SDK;
delete env.CLAUDE_BIN;

if (step.action === 'fork') {
  const { sessionId } = await sdk.forkSession(step.sessionId, { dir: process.cwd(), ...(step.options || {}) });
  print({ type: 'driver_result', action: 'fork', source_session_id: step.sessionId, session_id: sessionId });
  process.exit(0);
}
if (step.action !== 'query') throw new Error(`unknown action ${step.action}`);
const options = {
  cwd: process.cwd(),
  pathToClaudeCodeExecutable: process.env.CLAUDE_BIN,
  permissionMode: 'bypassPermissions',
  allowDangerouslySkipPermissions: true,
  settingSources: ['user', 'project', 'local'], // the isolated ~/.claude/settings.json and its hooks
  env,
  stderr: (d) => process.stderr.write(d),
  ...(step.options || {}),
};
let sessionId = null;
let result = null;
for await (const m of sdk.query({ prompt: step.prompt, options })) {
  print(m);
  if (m.session_id) sessionId = m.session_id;
  if (m.type === 'result') result = m;
}
print({ type: 'driver_result', action: 'query', session_id: sessionId, is_error: result ? !!result.is_error : null });
process.exit(result && !result.is_error ? 0 : 1);
