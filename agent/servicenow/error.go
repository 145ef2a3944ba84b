package servicenow

import (
	"fmt"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/secret"
)

// Error is a failed ServiceNow request after classification. Permanent
// errors (400, 401, 403, 404 and other 4xx except 408/429, auth failures)
// need the admin to fix something and are never retried; the others were
// retried up to Config.MaxAttempts.
type Error struct {
	Op        string // what was being done: "fetch incident page 3"
	Table     string
	URL       string // without credentials; the query shows no field values
	Status    int    // HTTP status; 0 for network and body errors
	Message   string // ServiceNow's error message, or a description of the fault
	Hint      string // what to check
	Permanent bool
	// Refused is true when ServiceNow refused the credentials: a 401, or
	// its OAuth endpoint refusing a grant or refresh token. Retrying will
	// not help until an admin fixes them.
	Refused bool
	Err     error // underlying error, if any
}

// Error formats e as "OP from URL: STATUS MESSAGE: HINT".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s from %s: ", e.Op, secret.RedactURL(e.URL))
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d ", e.Status)
	}
	b.WriteString(e.Message)
	if e.Err != nil && e.Message == "" {
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// transientStatus reports whether an HTTP status is worth retrying.
func transientStatus(code int) bool {
	return code == 408 || code == 429 || code >= 500
}

// hint says what to check for a permanent status.
func hint(code int, table, msg string) string {
	switch code {
	case 400:
		if strings.Contains(msg, "Invalid table") {
			return "check the table name " + table + " in servicenow.tables (and that its plugin is active)"
		}
		return "check servicenow.tables." + table + ".filter and the field names"
	case 401:
		return "check servicenow.auth (username/password or OAuth client); the account may be locked or the token revoked (run sei-agent login for authorization_code)"
	case 403:
		return "the API user needs the itil role (or admin for sys_audit/sys_audit_delete) or a read ACL on " + table + "; a field ACL on a field in the query also gives 403"
	case 404:
		return "check servicenow.url and that the Table API (/api/now/table) is reachable"
	}
	return "check servicenow.url and the instance's logs"
}
