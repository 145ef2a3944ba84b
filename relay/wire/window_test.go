package wire

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// rawFrame is a zstd frame holding raw (one raw block, at most 128 KiB)
// that declares a window of 1<<windowLog bytes and, when sized, its content
// size (as EncodeAll does; a stream encoder declares none).
func rawFrame(t *testing.T, raw []byte, windowLog int, sized bool) []byte {
	t.Helper()
	if len(raw) > 128<<10 || windowLog < 10 {
		t.Fatal("rawFrame: block too large or window too small")
	}
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(windowLog-10) << 3}
	if sized {
		out[4] = 2 << 6 // a 4-byte content size after the window
		out = binary.LittleEndian.AppendUint32(out, uint32(len(raw)))
	}
	h := uint32(len(raw))<<3 | 1 // last block, raw
	out = append(out, byte(h), byte(h>>8), byte(h>>16))
	out = append(out, raw...)
	var fh zstd.Header
	if err := fh.Decode(out); err != nil || fh.WindowSize != 1<<windowLog {
		t.Fatalf("frame header: window %d, %v; want %d", fh.WindowSize, err, 1<<windowLog)
	}
	return out
}

// TestDecodeWindows: batches with the window of today's agents
// (EncoderWindow) and of older agents (the library's 8 MiB default,
// MaxWindow, in a frame that declares its size as EncodeAll writes it)
// decode; a larger window, or a window past EncoderWindow without a
// declared size, which no agent writes and which would make the relay keep
// a history that large, is refused as too large.
func TestDecodeWindows(t *testing.T) {
	raw, err := EncodeNDJSON(sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		window int // log2
		sized  bool
		ok     bool
	}{{20, false, true}, {20, true, true}, {23, true, true}, {23, false, false}, {24, true, false}} {
		if 1<<tc.window == EncoderWindow != (tc.window == 20) || 1<<tc.window == MaxWindow != (tc.window == 23) {
			t.Fatal("EncoderWindow or MaxWindow changed: update the cases")
		}
		got, err := Decode(rawFrame(t, raw, tc.window, tc.sized))
		if tc.ok && (err != nil || len(got) != len(sample())) {
			t.Errorf("window %d, sized %v: Decode = %d records, %v", tc.window, tc.sized, len(got), err)
		}
		if !tc.ok && !errors.Is(err, ErrTooLarge) {
			t.Errorf("window %d, sized %v: Decode = %v, want ErrTooLarge", tc.window, tc.sized, err)
		}
	}
}

// TestDecodeLargeWindowsShareOneDecoder decodes 8 MiB-window bombs from
// several goroutines: the one large decoder's history is made once, so the
// memory they take does not grow with the number decoded at once (each
// pooled decoder kept its own 8 MiB history before; a GC in between may
// free it, which the least of allocated's runs leaves out). Run with -race
// too.
func TestDecodeLargeWindowsShareOneDecoder(t *testing.T) {
	body := declaredBomb(t) // an 8 MiB window
	_, _ = Decode(body)     // the large decoder exists from here
	n := allocated(func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := Decode(body); !errors.Is(err, ErrTooManyRecords) {
					t.Errorf("Decode(bomb) = %v, want ErrTooManyRecords", err)
				}
			})
		}
		wg.Wait()
	})
	t.Logf("8 bombs with an 8 MiB window decoded at once allocated %.1f MiB", float64(n)/(1<<20))
	if n > 8<<20 {
		t.Errorf("8 bombs decoded at once allocated %d MiB, want under one 8 MiB history", n>>20)
	}
}

// TestLargeDecoderNotKeptLive: once no large frame is being decoded, a
// garbage collection frees the large decoder and its 8 MiB history, so it
// does not count in the live heap Go sizes the heap from (it stayed live
// for good before: +8 MiB live after the bomb test, twice that in RSS).
func TestLargeDecoderNotKeptLive(t *testing.T) {
	if _, err := Decode(declaredBomb(t)); !errors.Is(err, ErrTooManyRecords) {
		t.Fatalf("Decode(bomb) = %v, want ErrTooManyRecords", err)
	}
	large.Lock()
	made := large.d.Value() != nil
	large.Unlock()
	if !made {
		t.Fatal("the bomb was not decoded by the large decoder")
	}
	runtime.GC()
	large.Lock()
	defer large.Unlock()
	if large.d.Value() != nil {
		t.Error("the large decoder is still live after a garbage collection")
	}
}
