package snowtest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var firstNames = []string{"Abel", "Beth", "Carla", "David", "Elena", "Fred", "Grace", "Hiro",
	"Ines", "Jamal", "Kara", "Luis", "Mia", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sam", "Tara"}

var lastNames = []string{"Tuter", "Anglin", "Luddy", "Loo", "Ortiz", "Nakamura", "Schmidt",
	"Okafor", "Rossi", "Dubois", "Khan", "Silva", "Novak", "Berg", "Walsh", "Park"}

var groupNames = []string{"Service Desk", "Network", "Database", "Hardware", "Software",
	"Change Management", "CAB Approval", "Application Development", "Help Desk", "Openspace"}

type incidentTopic struct{ category, subcategory, short, description string }

var incidentTopics = []incidentTopic{
	{"inquiry", "email", "Unable to connect to email", "I am unable to connect to the email server. It appears to be down."},
	{"network", "vpn", "VPN drops every few minutes", "The VPN client disconnects every 5 to 10 minutes since this morning."},
	{"hardware", "monitor", "Second monitor not detected", "After the docking station update my second monitor stays black."},
	{"software", "os", "Laptop very slow after update", "Since the last OS update the laptop takes minutes to open any application."},
	{"database", "db2", "Reporting database timeouts", "Nightly reports fail with timeouts against the reporting database."},
	{"inquiry", "antivirus", "Antivirus pop-up on every login", "A scan warning appears every time I log in; the scan never completes."},
}

var changeTopics = []string{"Upgrade core switch firmware", "Patch database cluster",
	"Rotate TLS certificates", "Migrate file share to new NAS", "Deploy payroll release 4.2",
	"Decommission legacy mail relay"}

var journalTexts = []string{"Team is actively looking into it.", "Called the user, waiting for logs.",
	"Workaround provided: restart the client.", "Escalated to the second line.",
	"User confirms the issue is fixed.", "Vendor ticket opened."}

// generator fills a fresh instance from the server's seeded generator.
type generator struct {
	s         *Server
	now       time.Time
	groups    []string
	userNames []string // user_name of s.users[i]
}

// generateLocked creates every table's rows. Deterministic for a seed.
func (s *Server) generateLocked() {
	g := &generator{s: s, now: s.opts.Now().UTC().Truncate(time.Second)}
	g.users()
	g.groupRows()
	deleted := 0
	if s.opts.Incidents > 0 {
		deleted = max(1, s.opts.Incidents/50)
	}
	incidents := g.tasks(TableIncident, s.opts.Incidents+deleted, g.incident)
	changes := g.tasks(TableChangeRequest, s.opts.Changes, g.change)
	g.approvals(changes)
	g.history(TableIncident, incidents, true)
	g.history(TableChangeRequest, changes, false)
	// Some incidents were deleted before the agent ever looked.
	t := s.tables[TableIncident]
	for _, id := range incidents[len(incidents)-deleted:] {
		row := t.rows[id]
		s.deleteLocked(t, id, g.between(row["sys_updated_on"]), g.userName())
	}
}

// stamps returns n sys_updated_on values within the spread; about 40% of them
// fall into a few shared seconds (bulk updates), so naive `>` paging breaks.
func (g *generator) stamps(n int) []time.Time {
	bursts := make([]time.Time, 1+n/25)
	for i := range bursts {
		bursts[i] = g.randTime()
	}
	out := make([]time.Time, n)
	for i := range out {
		if g.s.rng.IntN(10) < 4 {
			out[i] = bursts[g.s.rng.IntN(len(bursts))]
		} else {
			out[i] = g.randTime()
		}
	}
	return out
}

// randTime is a second within [now-Spread, now-1m] (or the spread for a tiny one).
func (g *generator) randTime() time.Time {
	span := max(g.s.opts.Spread-time.Minute, time.Second)
	return g.now.Add(-g.s.opts.Spread + time.Duration(g.s.rng.Int64N(int64(span)))).Truncate(time.Second)
}

// between is a stamp between a stored time and now.
func (g *generator) between(from string) string {
	t, _ := time.Parse(timeLayout, from) // generated values always parse
	span := g.now.Sub(t)
	if span <= 0 {
		return g.now.Format(timeLayout)
	}
	return t.Add(time.Duration(g.s.rng.Int64N(int64(span)))).Truncate(time.Second).Format(timeLayout)
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// base makes a row with its sys_* fields: created some days before updated.
func (g *generator) base(table string, updated time.Time) map[string]string {
	t := g.s.tables[table]
	created := updated.Add(-time.Duration(g.s.rng.Int64N(int64(14 * 24 * time.Hour)))).Truncate(time.Second)
	row := g.s.newRowLocked(t, fmtTime(created), g.userName())
	row["sys_updated_on"] = fmtTime(updated)
	row["sys_updated_by"] = g.userName()
	row["sys_mod_count"] = "0"
	if created.Before(updated) {
		row["sys_mod_count"] = strconv.Itoa(1 + g.s.rng.IntN(20))
	}
	return row
}

func (g *generator) pick(xs []string) string { return xs[g.s.rng.IntN(len(xs))] }

func (g *generator) userID() string { return g.pick(g.s.users) }

func (g *generator) userName() string {
	if len(g.userNames) == 0 {
		return "system"
	}
	return g.pick(g.userNames) // the same draw as userID, without two map lookups
}

func (g *generator) users() {
	s := g.s
	t := s.tables[TableUser]
	for i, at := range g.stamps(s.opts.Users) {
		row := g.base(TableUser, at)
		first, last := g.pick(firstNames), g.pick(lastNames)
		row["first_name"], row["last_name"], row["name"] = first, last, first+" "+last
		row["user_name"] = fmt.Sprintf("%s.%s%d", strings.ToLower(first), strings.ToLower(last), i+1)
		row["email"] = row["user_name"] + "@example.com"
		row["employee_number"] = fmt.Sprintf("E%05d", i+1)
		row["active"] = strconv.FormatBool(g.s.rng.IntN(10) > 0)
		row["locked_out"] = "false"
		row["title"] = g.pick([]string{"Engineer", "Analyst", "Manager", "Technician", ""})
		row["phone"] = fmt.Sprintf("+1 555 01%02d", i%100)
		row["sys_created_by"], row["sys_updated_by"] = "admin", "admin"
		if len(s.users) > 0 && g.s.rng.IntN(2) == 0 {
			row["manager"] = g.userID()
		}
		t.put(row)
		s.users = append(s.users, row["sys_id"])
		g.userNames = append(g.userNames, row["user_name"])
	}
}

func (g *generator) groupRows() {
	t := g.s.tables[TableGroup]
	for i, at := range g.stamps(g.s.opts.Groups) {
		row := g.base(TableGroup, at)
		row["name"] = fmt.Sprintf("Group %d", i+1)
		if i < len(groupNames) {
			row["name"] = groupNames[i]
		}
		row["description"] = row["name"] + " team"
		row["manager"] = g.userID()
		row["email"] = strings.ReplaceAll(strings.ToLower(row["name"]), " ", "-") + "@example.com"
		row["active"] = "true"
		t.put(row)
		g.groups = append(g.groups, row["sys_id"])
	}
}

// tasks generates n rows of an incident-like table with fill and returns
// their sys_ids in generation order.
func (g *generator) tasks(table string, n int, fill func(row map[string]string)) []string {
	t := g.s.tables[table]
	var ids []string
	for _, at := range g.stamps(n) {
		row := g.base(table, at)
		row["opened_at"] = row["sys_created_on"]
		row["opened_by"] = g.userID()
		row["assignment_group"] = g.pick(g.groups)
		row["made_sla"] = strconv.FormatBool(g.s.rng.IntN(5) > 0)
		row["upon_reject"], row["upon_approval"] = "cancel", "proceed"
		row["knowledge"], row["escalation"], row["reassignment_count"] = "false", "0", strconv.Itoa(g.s.rng.IntN(4))
		row["impact"], row["urgency"] = strconv.Itoa(1+g.s.rng.IntN(3)), strconv.Itoa(1+g.s.rng.IntN(3))
		imp, _ := strconv.Atoi(row["impact"])
		urg, _ := strconv.Atoi(row["urgency"])
		row["priority"] = strconv.Itoa(imp + urg - 1) // the impact x urgency matrix
		row["contact_type"] = g.pick([]string{"email", "phone", "self-service", "walk-in"})
		if g.s.rng.IntN(3) == 0 {
			row["cmdb_ci"] = "109562a3c611227500a7b7ff98cc0dc7"
			row["business_service"] = "27d32778c0a8000b00db970eeaa60f16"
			row["company"] = "31bea3d53790200044e0bfc8bcbe5dec"
		}
		fill(row)
		t.put(row)
		ids = append(ids, row["sys_id"])
	}
	return ids
}

func (g *generator) incident(row map[string]string) {
	topic := incidentTopics[g.s.rng.IntN(len(incidentTopics))]
	row["category"], row["subcategory"] = topic.category, topic.subcategory
	row["short_description"], row["description"] = topic.short, topic.description
	state := g.pick([]string{"1", "2", "2", "3", "6", "7", "7", "7", "8"})
	row["state"], row["incident_state"] = state, state
	row["active"] = strconv.FormatBool(state == "1" || state == "2" || state == "3")
	row["caller_id"] = g.userID()
	row["approval"], row["notify"], row["severity"] = "not requested", "1", "3"
	row["child_incidents"], row["reopen_count"] = "0", "0"
	row["calendar_stc"], row["business_stc"] = "", ""
	if state != "1" {
		row["assigned_to"] = g.userID()
	}
	if state == "3" {
		row["hold_reason"] = "1"
	}
	if state == "6" || state == "7" {
		row["resolved_by"] = row["assigned_to"]
		row["resolved_at"] = row["sys_updated_on"]
		row["close_code"] = g.pick([]string{"Solved (Permanently)", "Solved (Work Around)", "Solved Remotely (Permanently)"})
		row["close_notes"] = "This incident is resolved."
		row["calendar_stc"] = strconv.Itoa(60 + g.s.rng.IntN(200000))
		row["business_stc"] = strconv.Itoa(60 + g.s.rng.IntN(30000))
		row["calendar_duration"] = "1970-01-02 04:23:17"
		row["business_duration"] = "1970-01-01 08:00:00"
	}
	if state == "7" {
		row["closed_by"] = row["caller_id"]
		row["closed_at"] = row["sys_updated_on"]
	}
}

func (g *generator) change(row map[string]string) {
	row["short_description"] = g.pick(changeTopics)
	row["description"] = row["short_description"] + " during the maintenance window."
	state := g.pick([]string{"-5", "-4", "-3", "-2", "-1", "0", "3", "3", "4"})
	row["state"] = state
	row["active"] = strconv.FormatBool(state != "3" && state != "4")
	row["type"] = g.pick([]string{"standard", "normal", "normal", "emergency"})
	row["risk"] = strconv.Itoa(2 + g.s.rng.IntN(3))
	row["category"] = g.pick([]string{"Hardware", "Software", "Network", "Other"})
	row["requested_by"] = g.userID()
	row["assigned_to"] = g.userID()
	row["phase"], row["conflict_status"], row["scope"] = "requested", "Not Run", "3"
	for _, f := range []string{"cab_required", "on_hold", "unauthorized", "production_system", "outside_maintenance_schedule"} {
		row[f] = "false"
	}
	row["implementation_plan"] = "1. Announce. 2. Apply. 3. Verify."
	row["backout_plan"] = "Restore the previous version from backup."
	row["test_plan"] = "Run the smoke tests."
	row["justification"] = "Keeps the service supported."
	switch state {
	case "-5", "-4":
		row["approval"] = "not requested"
	case "-3":
		row["approval"] = "requested"
	case "4":
		row["approval"] = g.pick([]string{"rejected", "approved"})
	default:
		row["approval"] = "approved"
	}
	created, _ := time.Parse(timeLayout, row["sys_created_on"])
	start := created.Add(time.Duration(1+g.s.rng.IntN(10)) * 24 * time.Hour)
	row["start_date"], row["end_date"] = fmtTime(start), fmtTime(start.Add(4*time.Hour))
	if state == "-1" || state == "0" || state == "3" {
		row["work_start"] = fmtTime(start.Add(10 * time.Minute))
	}
	if state == "0" || state == "3" {
		row["work_end"] = fmtTime(start.Add(3 * time.Hour))
	}
	if state == "3" {
		row["close_code"], row["close_notes"] = "successful", "Implemented as planned."
		row["closed_by"], row["closed_at"] = row["assigned_to"], row["sys_updated_on"]
	}
}

func (g *generator) approvals(changes []string) {
	t := g.s.tables[TableApproval]
	ct := g.s.tables[TableChangeRequest]
	for _, id := range changes {
		chg := ct.rows[id]
		state := map[string]string{"not requested": "not_required", "requested": "requested",
			"approved": "approved", "rejected": "rejected"}[chg["approval"]]
		for range g.s.opts.Approvals {
			row := g.base(TableApproval, g.now)
			row["sys_created_on"] = chg["sys_created_on"]
			row["sys_updated_on"] = g.between(chg["sys_created_on"])
			row["approver"], row["sysapproval"], row["document_id"] = g.userID(), id, id
			row["source_table"], row["state"], row["order"] = TableChangeRequest, state, "1"
			row["approval_source"] = "Change Management"
			t.put(row)
		}
	}
}

// auditedFields are the fields generated sys_audit rows change; description
// and short_description are among them so that excluding a field must also
// cover its copies in the audit trail.
var auditedFields = []string{"state", "assigned_to", "description", "priority",
	"short_description", "assignment_group", "impact"}

// history writes sys_audit rows for each record and, with journal, its
// sys_journal_field rows; all between the record's creation and now.
func (g *generator) history(table string, ids []string, journal bool) {
	t := g.s.tables[table]
	for i, id := range ids {
		row := t.rows[id]
		for k := range g.s.opts.AuditPerRecord {
			f := auditedFields[(i+k)%len(auditedFields)]
			old := "Earlier text: " + row[f]
			if f != "description" && f != "short_description" {
				old = g.oldValue(f, row[f])
			}
			g.s.auditLocked(table, id, f, old, row[f], g.userName(), g.between(row["sys_created_on"]), k+1)
		}
		if !journal {
			continue
		}
		for k := range g.s.opts.JournalPerRecord {
			el := []string{"comments", "work_notes"}[k%2]
			g.s.journalLocked(table, id, el, g.pick(journalTexts), g.between(row["sys_created_on"]), g.userName())
		}
	}
}

func (g *generator) oldValue(field, cur string) string {
	switch field {
	case "assigned_to":
		return g.userID()
	case "assignment_group":
		return g.pick(g.groups)
	}
	if cur == "1" {
		return "2"
	}
	return "1"
}
