package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestJournalStream(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	match := fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)
	if !journalStream(match, f) {
		t.Errorf("journalStream(%q) = false for the file itself", match)
	}
	if journalStream("1:2", f) || journalStream("", f) {
		t.Error("journalStream true for another or no stream")
	}
}
