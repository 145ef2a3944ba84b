package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// TestValidateBuffer: validate reads and verifies the buffer, says what is
// damaged and what will be read again, and neither creates, moves nor
// repairs a buffer.
func TestValidateBuffer(t *testing.T) {
	ctx := context.Background()
	cfg := &config.Config{}
	cfg.Agent.DataDir = t.TempDir()
	cfg.Agent.MinFreeBytes = 1

	c := checkBuffer(ctx, cfg)
	if !c.OK || !strings.Contains(c.Detail, "none yet") {
		t.Errorf("no buffer: %+v", c)
	}
	if _, err := os.Stat(bufferDir(cfg)); err == nil {
		t.Fatal("validate created a buffer")
	}

	buf, err := openBuffer(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		data := []byte(strings.Repeat("x", 1000+i))
		rng := buffer.Range{Table: "sys_user", From: `{"time":"2026-01-01 00:00:00"}`, To: `{"time":"2026-01-02 00:00:00"}`}
		if _, err := buf.Append(ctx, buffer.Batch{Label: "sys_user", Records: 1, Data: data, Range: rng},
			map[string][]byte{"cursor/sys_user": []byte(`{"time":"2026-01-02 00:00:00"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	c = checkBuffer(ctx, cfg) // while the buffer is open elsewhere
	if !c.OK || !strings.Contains(c.Detail, "in use by the running agent") {
		t.Errorf("locked buffer: %+v", c)
	}
	buf.Close()

	c = checkBuffer(ctx, cfg)
	if !c.OK || !strings.HasPrefix(c.Detail, "12 batches, 11.8 KiB verified, 1 state keys") {
		t.Errorf("intact buffer: %+v", c)
	}

	// Damage the table file the close wrote.
	ssts, _ := filepath.Glob(filepath.Join(bufferDir(cfg), "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table file")
	}
	f, err := os.OpenFile(ssts[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.WriteAt(make([]byte, 48), fi.Size()/3)
	f.Close()
	c = checkBuffer(ctx, cfg)
	if c.OK || !strings.Contains(c.Detail, "buffer damaged") || !strings.Contains(c.Detail, "move it aside") {
		t.Errorf("damaged buffer: %+v", c)
	}
	if moved, _ := buffer.MovedAside(bufferDir(cfg)); len(moved) != 0 {
		t.Errorf("validate moved the buffer aside: %v", moved)
	}
}
