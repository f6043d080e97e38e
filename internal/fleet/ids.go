package fleet

import "github.com/google/uuid"

// namespace of the name-based worker ids (a fixed random UUID).
var namespace = uuid.MustParse("6f1c3d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f")

func uuidSHA1(name string) string { return uuid.NewSHA1(namespace, []byte(name)).String() }
