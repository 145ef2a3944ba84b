package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"weak"

	"github.com/klauspost/compress/zstd"
)

// Message headers of an ingest batch.
const (
	HeaderMsgID    = "Nats-Msg-Id" // the batch's stable id: JetStream dedup
	HeaderSchema   = "Sei-Schema"
	HeaderAgent    = "Sei-Agent"
	HeaderRecords  = "Sei-Records"
	HeaderEncoding = "Content-Encoding"
)

// SchemaVersion is the value of the Sei-Schema header this package writes.
const SchemaVersion = "1"

// Encoding is the value of the Content-Encoding header.
const Encoding = "zstd"

// MaxPayload is the largest compressed batch an agent publishes. NATS's
// default max_payload is 1 MiB including headers; keep a margin.
const MaxPayload = 900 << 10

// MaxDecoded bounds a batch's decompressed size (its NDJSON), so a hostile or
// corrupt body cannot exhaust the relay's memory. An agent's batch of
// MaxRecords ordinary records stays far below it; the agent splits a batch
// that would not (see Encode).
const MaxDecoded = 16 << 20

// MaxRecords bounds the records of one batch (servicenow.page_size is at most
// 10000, and a page may split into several batches, never merge).
const MaxRecords = 10000

// ErrTooLarge is wrapped by Decode's error (test it with errors.Is) for a
// body that inflates past MaxDecoded, and by Encode's for records whose
// NDJSON passes it.
var ErrTooLarge = errors.New("batch too large")

// ErrTooManyRecords is wrapped by Decode's and Encode's error for a batch of
// more than MaxRecords records.
var ErrTooManyRecords = errors.New("batch holds too many records")

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	// decoders holds stream decoders for frames with windows up to
	// EncoderWindow, every batch of today's agents: a *zstd.Decoder decodes
	// one stream at a time, and making one per batch would cost its buffers
	// every time. Each keeps a history ring of its window (~1.3 MiB).
	decoders = sync.Pool{New: func() any { return newDecoder(EncoderWindow) }}
	// large is the one decoder for frames with a window past EncoderWindow
	// (agents before EncoderWindow used 8 MiB; anything else is hostile):
	// its ring is as large as MaxWindow, so the relay keeps one, not one per
	// pooled decoder, and such frames are decoded one at a time. It is held
	// weakly: a garbage collection while no frame is decoded frees it, so
	// its 8 MiB history is not part of the live heap, which Go lets the
	// heap grow to twice of (one large frame, or a run of bombs, would
	// otherwise raise the relay's RSS by twice that for good). A decoder
	// with concurrency 1 runs no goroutine: dropping it needs no Close.
	large struct {
		sync.Mutex
		d weak.Pointer[zstd.Decoder] // made on first use, and after a GC freed it
	}
)

// MaxWindow is the largest zstd window a batch may use: the library's
// default, which agents used before EncoderWindow. A decoder keeps a
// history of its window, so this bounds the memory one decode takes.
const MaxWindow = 8 << 20

func newDecoder(window int) *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(MaxDecoded), zstd.WithDecoderMaxWindow(uint64(window)))
	if err != nil {
		panic(err) // only on invalid options
	}
	return d
}

// scratch is Encode's NDJSON buffer, kept between batches: a page of wide
// records is megabytes of NDJSON, and a new buffer for each (grown by
// doubling, each step zeroed and copied, on pages the runtime had returned
// to the system) was a tenth of the agent's CPU. Encode holds it for the
// whole call; the one zstd encoder serialises Encode anyway. It keeps at
// most maxScratch bytes.
var scratch struct {
	sync.Mutex
	buf bytes.Buffer
}

// maxScratch bounds the NDJSON buffer Encode keeps: a page of 1,000 wide
// records (about 3 MiB) fits.
const maxScratch = 8 << 20

// lineBufs holds countLines' read buffers.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// EncoderWindow is the zstd window of the batches Encode writes. The
// encoder is one per process (EncodeAll with concurrency 1) and its memory
// is its window history plus match tables: with the library's default 8 MiB
// window at SpeedDefault that was about 16 MiB of the agent's heap; a 1 MiB
// window with lower-memory buffers keeps it to a few MiB, and records repeat
// their field names within a few KiB, so the ratio barely moves. Any
// decoder accepts it: the relay allows windows up to MaxDecoded.
const EncoderWindow = 1 << 20

func encoder() *zstd.Encoder {
	encOnce.Do(func() {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(EncoderWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // only on invalid options
		}
	})
	return enc
}

// EncodeNDJSON writes records as NDJSON, one record a line, uncompressed:
// each line as json.Encoder (without HTML escaping) writes the Record.
func EncodeNDJSON(records []Record) ([]byte, error) {
	var buf bytes.Buffer
	if err := appendNDJSON(&buf, records); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func appendNDJSON(buf *bytes.Buffer, records []Record) error {
	w := newRecordWriter(buf)
	for i := range records {
		if err := w.write(&records[i]); err != nil {
			return err
		}
	}
	return nil
}

// Encode returns records as a batch body: zstd-compressed NDJSON. It refuses
// (ErrTooManyRecords, ErrTooLarge) a batch the relay would refuse, so the
// caller splits it instead.
func Encode(records []Record) ([]byte, error) {
	if len(records) > MaxRecords {
		return nil, fmt.Errorf("encode batch: %w: %d records, at most %d", ErrTooManyRecords, len(records), MaxRecords)
	}
	scratch.Lock()
	defer scratch.Unlock()
	buf := &scratch.buf
	buf.Reset()
	defer func() {
		if buf.Cap() > maxScratch {
			*buf = bytes.Buffer{} // an outlier's buffer is not kept
		}
	}()
	if err := appendNDJSON(buf, records); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	if len(raw) > MaxDecoded {
		return nil, fmt.Errorf("encode batch: %w: %d bytes of NDJSON, at most %d", ErrTooLarge, len(raw), MaxDecoded)
	}
	return encoder().EncodeAll(raw, make([]byte, 0, len(raw)/4+64)), nil
}

// Decode parses a batch body written by Encode and validates every record.
// It never panics on bad input; the error says which line is wrong.
func Decode(body []byte) ([]Record, error) {
	var out []Record
	_, err := DecodeEach(body, func(r *Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeEach inflates body as a stream and calls fn with each record, in
// order, once the record is validated; r is valid only during the call. It
// stops at the first error, fn's included, and returns the inflated bytes
// read. Memory is bounded by one line, not by the batch: a body that would
// inflate past MaxDecoded or hold more than MaxRecords records is refused as
// soon as the limit is passed, so a small "bomb" costs at most that much
// work. It never panics on bad input. It is Measure followed by Each.
func DecodeEach(body []byte, fn func(r *Record) error) (inflated int64, err error) {
	m, err := Measure(body)
	if err != nil {
		return m.inflated, err
	}
	return m.inflated, m.Each(fn)
}

// Measured is a batch body that passed Measure: within MaxDecoded and
// MaxRecords, its inflated size known, no record parsed yet.
type Measured struct {
	body     []byte
	inflated int64
}

// Inflated is the body's inflated size in bytes: what its records take to
// parse, and roughly what they take in memory once parsed.
func (m Measured) Inflated() int64 { return m.inflated }

// Measure is the first pass of DecodeEach: it checks the frame header, then
// inflates body as a stream counting its lines, allocating nothing per
// record, so a bomb is refused at the cost of inflating MaxDecoded bytes at
// most. A caller that must bound what it holds decoded (the relay's decode
// budget) learns the size here, before Each parses anything. On error the
// returned Measured holds the bytes inflated before the refusal.
func Measure(body []byte) (Measured, error) {
	var fh zstd.Header
	if fh.Decode(body) == nil {
		// A frame that declares its size is refused before any work.
		if fh.HasFCS && fh.FrameContentSize > MaxDecoded {
			return Measured{}, fmt.Errorf("decompress batch: %w: frame declares %d bytes, at most %d", ErrTooLarge, fh.FrameContentSize, MaxDecoded)
		}
		// So is a window past EncoderWindow without a declared size, which
		// would take the large decoder's history: an agent's frame
		// (EncodeAll) declares its size from 256 bytes on, and only a frame
		// larger than EncoderWindow gets a larger window, so only a hostile
		// stream encoder writes this.
		if fh.WindowSize > EncoderWindow && !fh.HasFCS {
			return Measured{}, fmt.Errorf("decompress batch: %w: a window of %d bytes without a declared content size, at most %d",
				ErrTooLarge, fh.WindowSize, EncoderWindow)
		}
	}
	inflated, err := inflate(body, func(r io.Reader) error {
		lines, err := countLines(r)
		if err == nil && lines > MaxRecords {
			err = fmt.Errorf("decode batch: %w: more than %d records", ErrTooManyRecords, MaxRecords)
		}
		return err
	})
	return Measured{body: body, inflated: inflated}, err
}

// Each is the second pass of DecodeEach: it inflates the body again and
// calls fn with each validated record, in order; r is valid only during the
// call. It stops at the first error, fn's included.
func (m Measured) Each(fn func(r *Record) error) error {
	_, err := inflate(m.body, func(r io.Reader) error { return decodeLines(r, fn) })
	return err
}

// inflate calls read with body's inflated stream, limited to MaxDecoded+1
// bytes, and returns the bytes read.
func inflate(body []byte, read func(io.Reader) error) (int64, error) {
	var d *zstd.Decoder
	var fh zstd.Header
	if fh.Decode(body) == nil && (fh.WindowSize > EncoderWindow || fh.SingleSegment && fh.FrameContentSize > EncoderWindow) {
		large.Lock()
		defer large.Unlock()
		if d = large.d.Value(); d == nil {
			d = newDecoder(MaxWindow)
			large.d = weak.Make(d)
		}
		defer func() { _ = d.Reset(nil) }() // drop the reference to body
	} else {
		d = decoders.Get().(*zstd.Decoder)
		defer func() {
			_ = d.Reset(nil) // drop the reference to body
			decoders.Put(d)
		}()
	}
	// Hide bytes.Reader's Len: the decoder would inflate a small body whole.
	if err := d.Reset(struct{ io.Reader }{bytes.NewReader(body)}); err != nil {
		return 0, fmt.Errorf("decompress batch: %w", err)
	}
	cr := &countingReader{r: io.LimitReader(d, MaxDecoded+1)}
	err := read(cr)
	if cr.n > MaxDecoded {
		return cr.n, fmt.Errorf("decompress batch: %w: more than %d bytes", ErrTooLarge, MaxDecoded)
	}
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return cr.n, fmt.Errorf("decompress batch: %w: %w", ErrTooLarge, err)
	}
	return cr.n, err
}

// countLines counts the lines of r that hold more than white space, and
// stops past MaxRecords.
func countLines(r io.Reader) (int, error) {
	buf := lineBufs.Get().(*[]byte)
	defer lineBufs.Put(buf)
	n, filled := 0, false
	for n <= MaxRecords {
		k, err := r.Read(*buf)
		for _, c := range (*buf)[:k] {
			switch c {
			case '\n':
				if filled {
					n++
				}
				filled = false
			case ' ', '\t', '\r':
			default:
				filled = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("decompress batch: %w", err)
		}
	}
	if filled {
		n++
	}
	return n, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// DecodeNDJSON parses uncompressed NDJSON records and validates each.
func DecodeNDJSON(raw []byte) ([]Record, error) {
	var out []Record
	err := decodeLines(bytes.NewReader(raw), func(r *Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeLines reads NDJSON records from rd, validates each and calls fn.
func decodeLines(rd io.Reader, fn func(r *Record) error) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), MaxDecoded+1)
	n, hint := 0, 0
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if n++; n > MaxRecords {
			return fmt.Errorf("decode batch line %d: %w: more than %d records", line, ErrTooManyRecords, MaxRecords)
		}
		r, err := decodeLine(b, hint)
		hint = len(r.Fields)
		if err != nil {
			return fmt.Errorf("decode batch line %d: %w", line, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("decode batch: %w: a line of more than %d bytes", ErrTooLarge, MaxDecoded)
		}
		return fmt.Errorf("decode batch: %w", err)
	}
	return nil
}

// decodeLine parses and validates one NDJSON line. fields is how many
// fields the record likely has (the previous one's): its map is made that
// large up front rather than grown field by field, which on records of
// about a hundred fields costs more than the parse.
func decodeLine(b []byte, fields int) (Record, error) {
	var r Record
	if fields > 0 {
		r.Fields = make(map[string]json.RawMessage, fields)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return r, err
	}
	if len(r.Fields) == 0 {
		r.Fields = nil // as without the map made up front: no fields, no map
	}
	if _, err := d.Token(); err != io.EOF {
		return r, errors.New("trailing data")
	}
	return r, r.Validate()
}
