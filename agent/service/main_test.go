package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("SEI_SERVICE_CHILD"); mode != "" {
		os.Exit(childMain(mode))
	}
	goleak.VerifyTestMain(m)
}

// childMain is the body of the child process TestRunChild starts: it runs
// Run on the real init system kardianos detects, as `sei-agent run` does,
// and maps the result to an exit code as main does.
func childMain(mode string) int {
	err := Run(context.Background(), Config{Logger: zerolog.New(os.Stderr)}, func(ctx context.Context) error {
		if mode == "badconfig" {
			return errors.New("invalid configuration")
		}
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("stopped cleanly")
		return ctx.Err()
	})
	switch {
	case err == nil:
		return 0
	case err.Error() == "invalid configuration":
		return 2
	}
	return 1
}
