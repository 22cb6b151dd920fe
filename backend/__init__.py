"""The local Nemo-compatible backend (aiohttp): the same API as NemoVideo, rendered on this machine.

Entry points
    backend.config.BackendConfig(data_dir, host="127.0.0.1", port=0, upload_max_bytes=2 GiB,
                                 soundfont=None, test_mode=False, public_url=None, render_workers=1, ...)
    backend.app.create_app(config) -> aiohttp.web.Application
    backend.server.LocalBackend(config): `await start()` sets `.url`; `await stop()`; or `async with`.

Endpoints (wire formats of docs/nemo-api.md)
    POST /api/auth/anonymous-token              X-Client-Id required (400); same id -> same account
    POST /api/auth/claim-token                  {task_id, session_id} -> {claim_token, expires_in}
    GET  /workspace/claim?ct=                   read-only page of the session's draft
    POST /api/tasks/me/with-session/nemo_agent  {task_name, language?} -> {task_id, session_id, user_id}
    POST /api/upload-video/nemo_agent/me/<sid>  multipart `files` (repeatable) or {"urls": [...]}
    GET  /api/credits/balance/simple            {available, frozen, total}
    GET  /api/state/nemo_agent/me/<sid>/latest  {session_id, task_id, task_name, state: {video_infos, draft, ...}}
    POST /run_sse                               ADK RunAgentRequest -> ADK events over SSE
    POST /api/render/proxy/lambda               {id, sessionId, draft, output?} -> {success, data: {id, status, progress}}
    GET  /api/render/proxy/lambda/<id>          {success, data: {id, status, progress, outputUrl?, error?, ...}}
    POST /api/render/proxy/lambda/<id>/cancel
    GET  /api/render/proxy/<id>/download        the MP4 (Bearer auth)
    GET  /render-result/<key>/<id>.mp4          outputUrl: unguessable, no auth (like a CDN)
    GET  /cdn/<key>/<name>                      cdn_url of an upload
    test mode only: POST/DELETE/GET /_test/faults, GET/DELETE /_test/requests (see backend.faults)

Draft convention: see backend.draft. Error codes and HTTP statuses: see backend.app.
Credits: 1 per music change in a chat turn; an export costs ceil(seconds / 30) (at least 1), frozen
while it renders, spent when it completes and given back when it fails or is cancelled.
Persistence: one SQLite file plus media under data_dir. A render still running when the server
stops is marked failed on the next start (error "The server restarted ...") and refunded.
"""
