package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

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

// MaxDecoded bounds a batch's decompressed size, so a hostile or corrupt
// body cannot exhaust the relay's memory.
const MaxDecoded = 256 << 20

// ErrTooLarge is wrapped by Decode's error (test it with errors.Is) for a
// body that inflates past MaxDecoded.
var ErrTooLarge = errors.New("batch too large")

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only on invalid options
		}
		dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxDecoded))
		if err != nil {
			panic(err)
		}
	})
	return enc, dec
}

// EncodeNDJSON writes records as NDJSON, one record a line, uncompressed.
func EncodeNDJSON(records []Record) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	for i := range records {
		if err := e.Encode(&records[i]); err != nil {
			return nil, fmt.Errorf("encode record %s/%s: %w", records[i].Table, records[i].SysID, err)
		}
	}
	return buf.Bytes(), nil
}

// Encode returns records as a batch body: zstd-compressed NDJSON.
func Encode(records []Record) ([]byte, error) {
	raw, err := EncodeNDJSON(records)
	if err != nil {
		return nil, err
	}
	e, _ := codecs()
	return e.EncodeAll(raw, make([]byte, 0, len(raw)/4+64)), nil
}

// Decode parses a batch body written by Encode and validates every record.
// It never panics on bad input; the error says which line is wrong.
func Decode(body []byte) ([]Record, error) {
	_, d := codecs()
	raw, err := d.DecodeAll(body, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		// The decoder's memory bound is MaxDecoded: it stops there.
		return nil, fmt.Errorf("decompress batch: %w: more than %d bytes", ErrTooLarge, MaxDecoded)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress batch: %w", err)
	}
	return DecodeNDJSON(raw)
}

// DecodeNDJSON parses uncompressed NDJSON records and validates each.
func DecodeNDJSON(raw []byte) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), MaxDecoded)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var r Record
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&r); err != nil {
			return nil, fmt.Errorf("decode batch line %d: %w", line, err)
		}
		if _, err := d.Token(); err != io.EOF {
			return nil, fmt.Errorf("decode batch line %d: trailing data", line)
		}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("decode batch line %d: %w", line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	return out, nil
}
