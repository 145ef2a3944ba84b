package wire

// The change feed on NATS: the relay publishes every change it stored, one
// message each, for cloud consumers that prefer a stream to polling
// /v1/changes.
const (
	// ChangesStreamName is the stream capturing ChangesWildcard.
	ChangesStreamName = "SEI_CHANGES"
	// ChangesPrefix starts every change subject.
	ChangesPrefix = "sei.changes"
	// ChangesWildcard matches every change subject.
	ChangesWildcard = ChangesPrefix + ".>"
	// HeaderPosition carries the change's feed position (also its
	// Nats-Msg-Id), the token /v1/changes takes as since.
	HeaderPosition = "Sei-Position"
)

// ChangesSubject is the subject of a change of a record of table, from
// integration, of tenant: sei.changes.<tenant>.<integration>.<table>.
func ChangesSubject(tenant, integration, table string) string {
	return ChangesPrefix + "." + tenant + "." + integration + "." + table
}
