// Package hookproto is the contract between weave-hook and weave-agentd.
//
// It holds everything both sides must agree on, and nothing else, because
// weave-hook may link only the standard library, this package and the
// record framing it uses, daemon/frame (a test in cmd/weave-hook enforces
// that):
//
//   - the wire protocol: HTTP/1.1 over the per-user Unix socket, fake host
//     local-weave.sock, POST /localapi/v1/hook with the raw hook JSON as the
//     body and the receipt metadata in Weave-* headers (proto.go);
//   - the Envelope (one hook event as received: body + receipt metadata) and
//     its binary form (envelope.go);
//   - the Event the daemon decodes from an Envelope, tolerant of unknown
//     fields, unknown events and oddly typed values (event.go);
//   - the inbox file: CRC-framed records (package frame, MagicInbox) each
//     holding an Envelope, how the hook appends to it without ever exposing
//     a torn record and how the daemon drains it (inbox.go);
//   - the per-user paths under WEAVE_HOME (paths.go), and when both sides
//     trust them: a Home no other local user can control, files opened
//     without following symlinks, a socket owned by the user
//     (trust_unix.go).
//
// Versioning: Version is sent in the Weave-Proto header and stored in every
// inbox record. The daemon accepts Version and Version-1 (Supported), so a
// hook binary one release older or newer than the running daemon keeps
// working across an upgrade.
package hookproto
