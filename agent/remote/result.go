package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Request is one request as a Handler sees it.
type Request struct {
	ID    string // the relay's id of the request
	Kind  string
	Asker string // who asked, as the relay names them (for logs)
	// Body is the request as the asker posted it: a JSON object with
	// "kind" and the kind's arguments.
	Body json.RawMessage
}

// Decode reads the request's arguments into v; an error is an Invalid one.
func (r Request) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return Invalid(fmt.Errorf("%s request: %w", r.Kind, err))
	}
	return nil
}

// Handler answers one kind of request. It must respect ctx, which ends
// when the agent stops or the request's time is up. An error made with
// Invalid means the request's arguments are wrong; any other is the
// agent's failure.
type Handler func(ctx context.Context, req Request) (Result, error)

// Result is a handler's answer: Data, or the content of File (for large
// results: the support bundle), which the Server removes once sent.
type Result struct {
	Content string // wire.ContentJSON or wire.ContentZip
	Data    []byte
	File    string
}

// JSON is the Result holding v as JSON.
func JSON(v any) (Result, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Result{}, fmt.Errorf("encode result: %w", err)
	}
	return Result{Content: wire.ContentJSON, Data: raw}, nil
}

// invalidError marks a request whose arguments are wrong.
type invalidError struct{ err error }

func (e invalidError) Error() string { return e.err.Error() }
func (e invalidError) Unwrap() error { return e.err }

// Invalid wraps err to say the request itself is wrong (an unknown table,
// a bad time): the asker gets 400 with err's text.
func Invalid(err error) error { return invalidError{err} }

// Invalidf is Invalid(fmt.Errorf(format, args...)).
func Invalidf(format string, args ...any) error { return Invalid(fmt.Errorf(format, args...)) }

// IsInvalid reports whether err was made with Invalid.
func IsInvalid(err error) bool {
	var ie invalidError
	return errors.As(err, &ie)
}
