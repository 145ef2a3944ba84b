package enroll

import (
	"slices"
	"testing"

	"github.com/nats-io/nkeys"
)

// TestOlderFileOneIntegration: a tenant file written before agents could
// have several integrations reads as one integration, with the same
// permissions and a tag for it.
func TestOlderFileOneIntegration(t *testing.T) {
	acct, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	raw := `{"tenant":"ta","account":"` + Public(acct) + `","agents":[{"tenant":"ta","integration":"snow","agent":"a1","public_key":"UAXJANWHEWB67I7HZPWVLXGON5MQIJF5WNCYJI5UTITLM4HO7SY3ZSVS"}]}`
	tn, err := ParseTenant([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	a := tn.Agents[0]
	if got := a.AllIntegrations(); !slices.Equal(got, []string{"snow"}) {
		t.Errorf("integrations = %v", got)
	}
	if got := a.Publish(); !slices.Equal(got, []string{"sei.ingest.ta.snow.>", "sei.heartbeat.ta.a1", "sei.reply.ta.a1.>"}) {
		t.Errorf("publish = %v", got)
	}
	if h := ReenrollHint(a, ""); h != "sei-relay enroll --tenant ta --integration snow --agent a1" {
		t.Errorf("hint = %s", h)
	}
}

// TestEnrollIntegrationsRegistry: the registry keeps every integration,
// the first also as integration (older readers), and refuses a repeat.
func TestEnrollIntegrationsRegistry(t *testing.T) {
	r, err := NewRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _, _, err := r.EnrollIntegrations("ta", []string{"snow-prod", "snow-emea"}, "a1", false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Integration != "snow-prod" || !slices.Equal(a.Publish(), []string{"sei.ingest.ta.snow-prod.>", "sei.ingest.ta.snow-emea.>", "sei.heartbeat.ta.a1", "sei.reply.ta.a1.>"}) ||
		!slices.Equal(a.Tags(), []string{"integration:snow-prod", "integration:snow-emea"}) {
		t.Errorf("agent = %+v, publish %v, tags %v", a, a.Publish(), a.Tags())
	}
	list, err := r.List()
	if err != nil || len(list) != 1 || !slices.Equal(list[0].AllIntegrations(), []string{"snow-prod", "snow-emea"}) {
		t.Errorf("list = %+v, %v", list, err)
	}
	if _, _, _, err := r.EnrollIntegrations("ta", []string{"x", "x"}, "a2", false); err == nil {
		t.Error("an integration given twice was accepted")
	}
}
