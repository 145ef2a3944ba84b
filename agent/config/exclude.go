package config

import (
	"slices"
	"sort"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
)

// exclusionProblems refuses exclusions that would break paging or identity
// of a synced table (servicenow.Exclusions.Check says which and why). The
// synced tables are the defaults adjusted by servicenow.tables: a table's
// field overrides its incremental field, enabled: false removes it.
func (sn *ServiceNow) exclusionProblems() []string {
	tables := servicenow.DefaultTables()
	names := make([]string, 0, len(sn.Tables))
	for name := range sn.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	ex := servicenow.Exclusions{Global: sn.ExcludeFields, Tables: map[string][]string{}}
	for _, name := range names {
		tc := sn.Tables[name]
		ex.Tables[name] = tc.ExcludeFields
		i := slices.IndexFunc(tables, func(t servicenow.Table) bool { return t.Name == name })
		if i < 0 {
			tables = append(tables, servicenow.Table{Name: name, Field: servicenow.FieldUpdatedOn})
			i = len(tables) - 1
		}
		if tc.Field != "" {
			tables[i].Field = tc.Field
		}
	}
	tables = slices.DeleteFunc(tables, func(t servicenow.Table) bool {
		tc, ok := sn.Tables[t.Name]
		return ok && tc.Enabled != nil && !*tc.Enabled
	})
	return ex.Check(tables)
}
