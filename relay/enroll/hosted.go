package enroll

import (
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// HostedPermissions are a hosted agent's permissions inside the relay
// account: the leases bucket (read, create, update, delete, list keys), the
// relay's hosted subjects (list, open, report), answers to the relay's
// validate requests, and its own inbox. Not the ingest stream, its
// consumer, the integrations bucket (secrets) or the admin subjects.
func HostedPermissions(agent string) *jwt.Permissions {
	kv := "KV_" + wire.HostedLeasesBucket
	var p jwt.Permissions
	p.Pub.Allow.Add(
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO."+kv,
		"$JS.API.STREAM.MSG.GET."+kv,
		"$JS.API.DIRECT.GET."+kv+".>",
		"$JS.API.CONSUMER.CREATE."+kv, "$JS.API.CONSUMER.CREATE."+kv+".>",
		"$JS.API.CONSUMER.DELETE."+kv+".>",
		"$KV."+wire.HostedLeasesBucket+".>",
		wire.HostedListSubject, wire.HostedOpenSubject, wire.HostedReportSubject,
	)
	p.Sub.Allow.Add(wire.HostedValidateSubject, wire.HostedInboxPrefix+"."+agent+".>")
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: 5 * time.Minute}
	return &p
}

// HostedUserCreds returns a .creds file's content for hosted agent name, a
// user of the relay account with HostedPermissions.
func (k *Keys) HostedUserCreds(name string) ([]byte, error) {
	return userCreds(k.Relay, "hosted-agent "+name, HostedPermissions(name))
}
