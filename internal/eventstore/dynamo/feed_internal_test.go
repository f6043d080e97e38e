package dynamo

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// moto has a single, never-closing shard, so shard lineage is tested here.
func TestReadyShards(t *testing.T) {
	shard := func(id, parent string) streamtypes.Shard {
		s := streamtypes.Shard{ShardId: aws.String(id)}
		if parent != "" {
			s.ParentShardId = aws.String(parent)
		}
		return s
	}
	// a → b → (c, d); e's parent aged out of the stream.
	shards := []streamtypes.Shard{shard("d", "b"), shard("c", "b"), shard("b", "a"), shard("a", ""), shard("e", "gone")}
	tests := []struct {
		name string
		done []string
		want []string
	}{
		{"fresh: roots and orphans only", nil, []string{"a", "e"}},
		{"parent done: its child", []string{"a"}, []string{"b", "e"}},
		{"split: both children", []string{"a", "b"}, []string{"c", "d", "e"}},
		{"all done", []string{"a", "b", "c", "d", "e"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := map[string]*shardState{}
			for _, id := range tc.done {
				state[id] = &shardState{done: true}
			}
			var got []string
			for _, s := range readyShards(shards, state) {
				got = append(got, aws.ToString(s.ShardId))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ready %v, want %v", got, tc.want)
			}
		})
	}
}
