package ec2cloud

import (
	"errors"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// Error codes by class. Codes not listed fall through to the prefix rules
// in kindOf.
var (
	capacityCodes = set(
		"InsufficientInstanceCapacity",
		"InsufficientHostCapacity",
		"InsufficientReservedInstanceCapacity",
		"InsufficientCapacity",
		"InsufficientFreeAddressesInSubnet",
	)
	notFoundCodes = set(
		"InvalidInstanceID.NotFound",
	)
	stateCodes = set(
		"IncorrectInstanceState",
		"IncorrectState",
	)
	// Quotas and permissions never fix themselves by retrying or by moving
	// to another subnet: fail fast and show AWS's message.
	configCodes = set(
		"VcpuLimitExceeded",
		"InstanceLimitExceeded",
		"Unsupported",
		"UnauthorizedOperation",
		"AuthFailure",
		"AccessDenied",
		"AccessDeniedException",
		"InvalidClientTokenId",
		"SignatureDoesNotMatch",
		"OptInRequired",
		"Blocked",
		"MissingParameter",
		"ValidationError",
		"IdempotentParameterMismatch",
		"FilterLimitExceeded",
		"InvalidInstanceID.Malformed",
		"UnsupportedOperation",
	)
	throttleCodes = set(
		"Throttling",
		"ThrottlingException",
		"ThrottledException",
		"RequestThrottledException",
		"TooManyRequestsException",
		"RequestLimitExceeded",
		"RequestThrottled",
		"EC2ThrottledException",
		"SlowDown",
		"PriorRequestNotComplete",
		"LimitExceeded",
	)
	isThrottle = retry.IsErrorThrottles(retry.DefaultThrottles)
)

func set(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// classify wraps an SDK error as a *cloud.Error with its class, the AWS
// code and the AWS message. Context errors stay unclassified (the caller's
// deadline, not AWS's verdict) but remain visible to errors.Is.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &cloud.Error{Op: op, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code, e.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
		e.Kind = kindOf(e.Code)
	}
	var quota ratelimit.QuotaExceededError
	if e.Kind == nil && (errors.As(err, &quota) || isThrottle.IsErrorThrottle(err).Bool()) {
		// The retryer gave up because of throttling, or its client-side
		// rate limiter refused to send: both mean "slow down".
		e.Kind = cloud.ErrThrottled
	}
	return e
}

func kindOf(code string) error {
	switch {
	case capacityCodes[code]:
		return cloud.ErrCapacity
	case throttleCodes[code]:
		return cloud.ErrThrottled
	case notFoundCodes[code]:
		return cloud.ErrNotFound
	case stateCodes[code]:
		return cloud.ErrInvalidState
	case configCodes[code]:
		return cloud.ErrInvalidConfig
	case strings.HasPrefix(code, "Invalid"):
		// InvalidAMIID.NotFound, InvalidSubnetID.NotFound,
		// InvalidGroup.NotFound, InvalidKeyPair.NotFound,
		// InvalidParameterValue…: a reference in our configuration is wrong.
		return cloud.ErrInvalidConfig
	}
	return nil
}

// instanceIDPattern finds instance ids in an AWS error message such as
// "The instance IDs 'i-1, i-2' do not exist".
var instanceIDPattern = regexp.MustCompile(`\bi-[0-9a-f]{8,17}\b`)

// missingInstanceIDs returns the ids an InvalidInstanceID.NotFound error
// names, or nil for any other error.
func missingInstanceIDs(err error) []string {
	var ce *cloud.Error
	if !errors.As(err, &ce) || ce.Code != "InvalidInstanceID.NotFound" {
		return nil
	}
	return instanceIDPattern.FindAllString(ce.Message, -1)
}
