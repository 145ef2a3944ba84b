package service

import (
	"errors"
	"strings"
	"testing"
)

// TestApplyConfigSteps: a setting the service manager lacks (Wine's
// ERROR_INVALID_LEVEL) warns and the later settings still apply; any other
// failure stops Install with an error naming the setting.
func TestApplyConfigSteps(t *testing.T) {
	errLevel := errors.New("Invalid level.")
	errDenied := errors.New("Access is denied.")
	unsupported := func(err error) bool { return errors.Is(err, errLevel) }

	var ran, warned []string
	step := func(name string, err error) configStep {
		return configStep{name, func() error { ran = append(ran, name); return err }}
	}
	warn := func(what string, err error) { warned = append(warned, what+": "+err.Error()) }

	err := applyConfigSteps([]configStep{step("delayed start", errLevel), step("recovery", nil), step("flag", errLevel)}, unsupported, warn)
	if err != nil {
		t.Fatalf("unsupported levels only: %v", err)
	}
	if strings.Join(ran, ",") != "delayed start,recovery,flag" || len(warned) != 2 || !strings.Contains(warned[0], "delayed start") {
		t.Errorf("ran %q, warned %q", ran, warned)
	}

	ran, warned = nil, nil
	err = applyConfigSteps([]configStep{step("recovery", errDenied), step("flag", nil)}, unsupported, warn)
	if !errors.Is(err, errDenied) || !strings.Contains(err.Error(), "recovery") {
		t.Errorf("denied: %v, want the error naming the setting", err)
	}
	if strings.Join(ran, ",") != "recovery" || len(warned) != 0 {
		t.Errorf("after a real failure: ran %q, warned %q", ran, warned)
	}
}
