package natsbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// PushAccount hands an account JWT to an external cluster's account
// resolver, as `nsc push` does: a $SYS.REQ.CLAIMS.UPDATE request on sys, a
// connection as a user of the cluster's system account
// (nats.system_credentials). The cluster needs a full resolver (one that
// accepts updates); the answering server passes the JWT to the others.
func PushAccount(sys *nats.Conn, accountJWT string) error {
	m, err := sys.Request("$SYS.REQ.CLAIMS.UPDATE", []byte(accountJWT), 5*time.Second)
	if err != nil {
		return fmt.Errorf("push account jwt ($SYS.REQ.CLAIMS.UPDATE; nats.system_credentials must be a user of the cluster's system account, and the cluster needs a full resolver): %w", err)
	}
	var rep struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return fmt.Errorf("push account jwt: decode answer: %w", err)
	}
	if rep.Error != nil {
		return fmt.Errorf("push account jwt: the cluster refused it: %s", rep.Error.Description)
	}
	return nil
}
