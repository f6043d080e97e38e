package layout

import (
	"errors"
	"testing"

	"github.com/cmlcm/cmlcm/internal/eventstore"
)

func TestSK(t *testing.T) {
	for _, v := range []int64{0, 1, 42, 1<<63 - 1} {
		sk := SK(v)
		if len(sk) != SKLen || sk >= SnapshotSK || sk > MaxSK {
			t.Fatalf("SK(%d) = %q does not sort below the snapshot key", v, sk)
		}
		if got, err := ParseSK(sk); err != nil || got != v {
			t.Fatalf("ParseSK(%q) = %d, %v", sk, got, err)
		}
	}
	if SK(9) >= SK(10) {
		t.Fatal("keys do not sort as versions")
	}
}

func TestCursor(t *testing.T) {
	c := Cursor{SK: SK(7), After: 8}
	got, err := DecodeCursor(c.Encode())
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := DecodeCursor(""); err != nil || got != Start {
		t.Fatalf("empty cursor: %+v, %v", got, err)
	}
	for _, bad := range []string{"!", "eA", Cursor{SK: "x", After: 1}.Encode(), Cursor{SK: SK(1), After: -1}.Encode()} {
		if _, err := DecodeCursor(bad); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("DecodeCursor(%q): %v, want ErrInvalid", bad, err)
		}
	}
}
