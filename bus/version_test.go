package bus

import "testing"

func TestCheckServerVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		ok      bool
		want    serverFeatures
	}{
		{"2.8.4", false, serverFeatures{}},
		{"2.9.0", true, serverFeatures{version: "2.9.0"}},
		{"2.9.10", true, serverFeatures{version: "2.9.10"}},
		{"2.10.0-RC.3", true, serverFeatures{version: "2.10.0-RC.3", multiFilter: true, termReason: true}},
		{"v2.15.3", true, serverFeatures{version: "v2.15.3", multiFilter: true, termReason: true}},
		{"3.0.0+build.1", true, serverFeatures{version: "3.0.0+build.1", multiFilter: true, termReason: true}},
		{"1.99.99", false, serverFeatures{}},
		{"2.10", false, serverFeatures{}},
		{"", false, serverFeatures{}},
	} {
		got, err := checkServerVersion(tc.version)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("checkServerVersion(%q) = %+v, %v; want %+v, ok=%v", tc.version, got, err, tc.want, tc.ok)
		}
	}
}
