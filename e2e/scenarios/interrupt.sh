# interrupt: the interactive CLI under tmux. The user presses Escape while
# a Bash command runs, sends a second prompt, then /exit. Sourced by run.sh
# after setup and start_mock. Captured for the replay tests
# (spans/testdata/captures*/interrupt), not part of make e2e.
cc_tmux
tmux_wait 'for shortcuts' 40 || true
tmux_send -l "Run the long command"
sleep 0.3; tmux_send Enter
tmux_wait 'Running…' 30 || true
sleep 2
tmux_send Escape
tmux_wait '(Interrupted|interrupted)' 20 || true
sleep 1
tmux_send -l "Say hi"
sleep 0.3; tmux_send Enter
tmux_wait 'Hi again' 40 || true
sleep 1
tmux_send -l "/exit"
sleep 0.3; tmux_send Enter
sleep 3
tmux_stop
