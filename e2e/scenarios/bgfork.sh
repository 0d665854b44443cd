# bgfork: a session whose turn starts a background subagent, then
# --resume of it with --fork-session whose turn runs a foreground one.
# Sourced by run.sh after setup and start_mock.
O=(--output-format stream-json --verbose --permission-mode bypassPermissions)
cc -p "Count the notes in the background" "${O[@]}"
SID1="$(session_id_of run-1)"
cc -p --resume "$SID1" --fork-session "Now check again in the foreground" "${O[@]}"
printf 'run-1 %s\nrun-2 %s (--resume run-1 --fork-session)\n' "$SID1" "$(session_id_of run-2)" | tee "$R/out/session-ids.txt"
