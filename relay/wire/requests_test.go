package wire

import (
	"strings"
	"testing"
)

func TestParseRequestSubject(t *testing.T) {
	for _, tc := range []struct {
		subject, reply, kind string
		ok                   bool
	}{
		{RequestSubject("ta", "a1", "status"), ReplySubject("ta", "a1", "0f3a"), "status", true},
		{RequestSubject("ta", "a1", "status"), ReplySubject("ta", "a2", "0f3a"), "", false},
		{RequestSubject("ta", "a1", "status"), ReplySubject("tb", "a1", "0f3a"), "", false},
		{RequestSubject("ta", "a1", "status"), "_INBOX.x", "", false},
		{RequestSubject("ta", "a1", "status"), "", "", false},
		{RequestSubject("ta", "a2", "status"), ReplySubject("ta", "a1", "0f3a"), "", false},
		{"sei.agent.ta.a1.req.status.extra", ReplySubject("ta", "a1", "0f3a"), "", false},
		{RequestSubject("ta", "a1", "status"), ReplySubject("ta", "a1", "0f3a") + ".more", "", false},
	} {
		kind, err := ParseRequestSubject("ta", "a1", tc.subject, tc.reply)
		if (err == nil) != tc.ok || kind != tc.kind {
			t.Errorf("ParseRequestSubject(%q, %q) = %q, %v", tc.subject, tc.reply, kind, err)
		}
	}
}

// FuzzParseRequestSubject: whatever a request's subjects hold, an
// accepted one names a valid kind token and a reply in the agent's own
// reply space, one token deep.
func FuzzParseRequestSubject(f *testing.F) {
	f.Add(RequestSubject("ta", "a1", "status"), ReplySubject("ta", "a1", "0f3a"))
	f.Add("sei.agent.ta.a1.req.>", "sei.reply.ta.a1.*")
	f.Fuzz(func(t *testing.T, subject, reply string) {
		kind, err := ParseRequestSubject("ta", "a1", subject, reply)
		if err != nil {
			return
		}
		id, ok := strings.CutPrefix(reply, "sei.reply.ta.a1.")
		if !ValidName(kind) || !ok || !ValidName(id) || subject != RequestSubject("ta", "a1", kind) {
			t.Errorf("accepted %q (kind %q) with reply %q", subject, kind, reply)
		}
	})
}
