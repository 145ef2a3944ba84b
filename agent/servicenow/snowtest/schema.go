package snowtest

import "time"

// Table names the simulator serves.
const (
	TableIncident      = "incident"
	TableChangeRequest = "change_request"
	TableUser          = "sys_user"
	TableGroup         = "sys_user_group"
	TableApproval      = "sysapproval_approver"
	TableAudit         = "sys_audit"
	TableJournal       = "sys_journal_field"
	TableAuditDelete   = "sys_audit_delete"
	timeLayout         = "2006-01-02 15:04:05"
	displayTimeLayout  = "2006-01-02 15:04:05"
	globalDomain       = "global"
)

// displayZone is the API user's time zone: display values are rendered in it,
// so a client that builds a watermark on them is visibly wrong.
var displayZone = time.FixedZone("PST", -8*3600)

// tableDef is the schema of one simulated table.
type tableDef struct {
	name    string
	fields  []string                     // in the order the Table API returns them
	refs    map[string]string            // reference field -> referenced table
	choices map[string]map[string]string // choice field -> value -> label
	display string                       // the field that is the record's display value
	// audited tables get sys_audit rows on update and sys_audit_delete rows on delete.
	audited bool
	// insertOnly tables have no sys_updated_on (sys_audit, sys_journal_field).
	insertOnly bool
}

// incidentFields is the field set of a real incident (fixtures/servicenow).
var incidentFields = []string{
	"parent", "made_sla", "caused_by", "watch_list", "upon_reject", "sys_updated_on",
	"child_incidents", "hold_reason", "origin_table", "task_effective_number", "approval_history",
	"number", "resolved_by", "sys_updated_by", "opened_by", "user_input", "sys_created_on",
	"sys_domain", "state", "route_reason", "sys_created_by", "knowledge", "order", "calendar_stc",
	"closed_at", "cmdb_ci", "delivery_plan", "contract", "impact", "active", "work_notes_list",
	"business_service", "business_impact", "priority", "sys_domain_path", "rfc", "time_worked",
	"expected_start", "opened_at", "business_duration", "group_list", "work_end", "caller_id",
	"reopened_time", "resolved_at", "approval_set", "subcategory", "work_notes",
	"universal_request", "short_description", "close_code", "correlation_display",
	"delivery_task", "work_start", "assignment_group", "additional_assignee_list", "business_stc",
	"cause", "description", "origin_id", "calendar_duration", "close_notes", "notify",
	"service_offering", "sys_class_name", "closed_by", "follow_up", "parent_incident", "sys_id",
	"contact_type", "reopened_by", "incident_state", "urgency", "problem_id", "company",
	"reassignment_count", "activity_due", "assigned_to", "severity", "comments", "approval",
	"sla_due", "comments_and_work_notes", "due_date", "sys_mod_count", "reopen_count", "sys_tags",
	"escalation", "upon_approval", "correlation_id", "location", "category",
}

// changeFields is change_request: the task fields plus the change ones.
var changeFields = []string{
	"parent", "made_sla", "watch_list", "upon_reject", "sys_updated_on", "type", "approval_history",
	"number", "sys_updated_by", "opened_by", "user_input", "sys_created_on", "sys_domain", "state",
	"sys_created_by", "knowledge", "order", "phase", "closed_at", "cmdb_ci", "delivery_plan",
	"impact", "active", "work_notes_list", "business_service", "priority", "sys_domain_path",
	"time_worked", "expected_start", "opened_at", "business_duration", "group_list",
	"requested_by_date", "work_end", "approval_set", "implementation_plan", "work_notes",
	"end_date", "short_description", "close_code", "correlation_display", "work_start",
	"assignment_group", "additional_assignee_list", "description", "calendar_duration",
	"close_notes", "sys_class_name", "closed_by", "follow_up", "sys_id", "contact_type",
	"cab_required", "urgency", "company", "justification", "reassignment_count", "activity_due",
	"assigned_to", "comments", "approval", "sla_due", "comments_and_work_notes", "due_date",
	"sys_mod_count", "sys_tags", "conflict_status", "escalation", "upon_approval",
	"correlation_id", "location", "risk", "category", "requested_by", "start_date",
	"backout_plan", "test_plan", "reason", "on_hold", "on_hold_reason", "cab_date",
	"cab_recommendation", "conflict_last_run", "review_date", "review_status", "unauthorized",
	"outside_maintenance_schedule", "production_system", "scope", "chg_model", "task_effective_number",
}

var userFields = []string{
	"sys_id", "user_name", "name", "first_name", "last_name", "email", "employee_number",
	"active", "title", "department", "manager", "phone", "mobile_phone", "locked_out",
	"time_zone", "company", "location", "sys_class_name", "sys_domain", "sys_domain_path",
	"sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count",
	"sys_tags",
}

var groupFields = []string{
	"sys_id", "name", "description", "manager", "email", "active", "type", "parent",
	"sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count",
	"sys_tags",
}

var approvalFields = []string{
	"sys_id", "approver", "sysapproval", "document_id", "source_table", "state", "comments",
	"due_date", "expected_start", "group", "order", "approval_source", "sys_created_on",
	"sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count", "sys_tags",
}

var auditFields = []string{
	"sys_id", "tablename", "documentkey", "fieldname", "oldvalue", "newvalue", "user",
	"reason", "record_checkpoint", "internal_checkpoint", "sys_created_on", "sys_created_by",
}

var journalFields = []string{
	"sys_id", "sys_created_on", "name", "element_id", "sys_tags", "value", "sys_created_by",
	"element",
}

var auditDeleteFields = []string{
	"sys_id", "tablename", "documentkey", "display_value", "payload", "sys_created_on",
	"sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count", "sys_tags",
}

var taskRefs = map[string]string{
	"parent": "task", "caused_by": "task", "resolved_by": TableUser, "opened_by": TableUser,
	"sys_domain": TableGroup, "cmdb_ci": "cmdb_ci", "contract": "ast_contract",
	"business_service": "cmdb_ci_service", "rfc": TableChangeRequest, "caller_id": TableUser,
	"assignment_group": TableGroup, "closed_by": TableUser, "parent_incident": TableIncident,
	"reopened_by": TableUser, "problem_id": "problem", "company": "core_company",
	"assigned_to": TableUser, "location": "cmn_location", "service_offering": "service_offering",
	"requested_by": TableUser,
}

var incidentStates = map[string]string{
	"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled",
}

var impactLabels = map[string]string{"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}

var priorityLabels = map[string]string{
	"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning",
}

var changeStates = map[string]string{
	"-5": "New", "-4": "Assess", "-3": "Authorize", "-2": "Scheduled", "-1": "Implement",
	"0": "Review", "3": "Closed", "4": "Canceled",
}

var approvalLabels = map[string]string{
	"not requested": "Not Yet Requested", "requested": "Requested", "approved": "Approved",
	"rejected": "Rejected",
}

var taskChoices = map[string]map[string]string{
	"impact": impactLabels, "urgency": impactLabels, "priority": priorityLabels,
	"approval": approvalLabels,
	"notify":   {"1": "Do Not Notify", "2": "Send Email"},
	"contact_type": {"email": "Email", "phone": "Phone", "self-service": "Self-service",
		"walk-in": "Walk-in"},
	"upon_reject":   {"cancel": "Cancel all future Tasks"},
	"upon_approval": {"proceed": "Proceed to Next Task"},
	"escalation":    {"0": "Normal", "1": "Moderate", "2": "High", "3": "Overdue"},
}

func withChoices(extra map[string]map[string]string) map[string]map[string]string {
	m := map[string]map[string]string{}
	for k, v := range taskChoices {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// schemas returns the definitions of every simulated table.
func schemas() map[string]*tableDef {
	return map[string]*tableDef{
		TableIncident: {name: TableIncident, fields: incidentFields, refs: taskRefs,
			display: "number", audited: true,
			choices: withChoices(map[string]map[string]string{
				"state": incidentStates, "incident_state": incidentStates,
				"severity": {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"},
			})},
		TableChangeRequest: {name: TableChangeRequest, fields: changeFields, refs: taskRefs,
			display: "number", audited: true,
			choices: withChoices(map[string]map[string]string{
				"state": changeStates,
				"type":  {"standard": "Standard", "normal": "Normal", "emergency": "Emergency"},
				"risk":  {"1": "Very High", "2": "High", "3": "Moderate", "4": "Low"},
			})},
		TableUser: {name: TableUser, fields: userFields, display: "name", audited: true,
			refs: map[string]string{"manager": TableUser, "sys_domain": TableGroup,
				"company": "core_company", "location": "cmn_location", "department": "cmn_department"}},
		TableGroup: {name: TableGroup, fields: groupFields, display: "name", audited: true,
			refs: map[string]string{"manager": TableUser, "parent": TableGroup}},
		TableApproval: {name: TableApproval, fields: approvalFields, display: "sysapproval", audited: true,
			refs: map[string]string{"approver": TableUser, "sysapproval": "task",
				"group": "sysapproval_group"},
			choices: map[string]map[string]string{"state": {"requested": "Requested",
				"approved": "Approved", "rejected": "Rejected", "not_required": "No Longer Required",
				"cancelled": "Cancelled"}}},
		TableAudit:       {name: TableAudit, fields: auditFields, display: "documentkey", insertOnly: true},
		TableJournal:     {name: TableJournal, fields: journalFields, display: "value", insertOnly: true},
		TableAuditDelete: {name: TableAuditDelete, fields: auditDeleteFields, display: "display_value"},
	}
}

// dateTimeFields are rendered in the API user's zone when display values are asked for.
var dateTimeFields = map[string]bool{
	"sys_created_on": true, "sys_updated_on": true, "opened_at": true, "resolved_at": true,
	"closed_at": true, "activity_due": true, "due_date": true, "expected_start": true,
	"work_start": true, "work_end": true, "start_date": true, "end_date": true,
	"reopened_time": true, "sla_due": true, "approval_set": true, "follow_up": true,
	"requested_by_date": true, "conflict_last_run": true, "cab_date": true, "review_date": true,
}

// foreignLabels are display values for references to tables the simulator does not serve.
var foreignLabels = map[string]string{
	globalDomain:                       "global",
	"109562a3c611227500a7b7ff98cc0dc7": "EXCH-SD-05",
	"27d32778c0a8000b00db970eeaa60f16": "Email",
	"31bea3d53790200044e0bfc8bcbe5dec": "ACME North America",
}
