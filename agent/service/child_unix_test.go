//go:build unix

package service

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestRunChild runs Run in a real child process: SIGTERM must cancel the
// body and exit 0; a body failing with a bad configuration must exit 2, the
// code systemd's RestartPreventExitStatus=2 sees.
func TestRunChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("sigterm", func(t *testing.T) {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "SEI_SERVICE_CHILD=wait")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not get ready: %q", lines.Text())
		}
		// Run installs its signal handler before starting the body, so a
		// SIGTERM after "ready" is a graceful stop.
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var rest []string
		for lines.Scan() {
			rest = append(rest, lines.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child exit: %v; output %q", err, rest)
		}
		if len(rest) != 1 || rest[0] != "stopped cleanly" {
			t.Errorf("child output after SIGTERM %q, want [stopped cleanly]", rest)
		}
	})
	t.Run("bad config exits 2", func(t *testing.T) {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "SEI_SERVICE_CHILD=badconfig")
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
			t.Fatalf("child exit %v, want code 2; output %s", err, strings.TrimSpace(string(out)))
		}
	})
}
