package semconv

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otel "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// The gen_ai.* keys are the pinned semantic conventions' own: spelled out
// here so the package stays a leaf, checked against the OTel module.
func TestPinnedKeys(t *testing.T) {
	if want := strings.TrimPrefix(otel.SchemaURL, "https://opentelemetry.io/schemas/"); Version != want {
		t.Errorf("Version = %q, want %q (the pinned semconv package's schema)", Version, want)
	}
	for _, c := range []struct {
		name string
		got  string
		want attribute.Key
	}{
		{"KeyOperationName", KeyOperationName, otel.GenAIOperationNameKey},
		{"KeyProviderName", KeyProviderName, otel.GenAIProviderNameKey},
		{"KeyAgentName", KeyAgentName, otel.GenAIAgentNameKey},
		{"KeyAgentID", KeyAgentID, otel.GenAIAgentIDKey},
		{"KeyAgentVersion", KeyAgentVersion, otel.GenAIAgentVersionKey},
		{"KeyAgentDescription", KeyAgentDescription, otel.GenAIAgentDescriptionKey},
		{"KeyConversationID", KeyConversationID, otel.GenAIConversationIDKey},
		{"KeyRequestModel", KeyRequestModel, otel.GenAIRequestModelKey},
		{"KeyResponseModel", KeyResponseModel, otel.GenAIResponseModelKey},
		{"KeyResponseID", KeyResponseID, otel.GenAIResponseIDKey},
		{"KeyFinishReasons", KeyFinishReasons, otel.GenAIResponseFinishReasonsKey},
		{"KeyOutputType", KeyOutputType, otel.GenAIOutputTypeKey},
		{"KeyInputTokens", KeyInputTokens, otel.GenAIUsageInputTokensKey},
		{"KeyOutputTokens", KeyOutputTokens, otel.GenAIUsageOutputTokensKey},
		{"KeyCacheReadTokens", KeyCacheReadTokens, otel.GenAIUsageCacheReadInputTokensKey},
		{"KeyCacheCreateTokens", KeyCacheCreateTokens, otel.GenAIUsageCacheCreationInputTokensKey},
		{"KeyReasoningTokens", KeyReasoningTokens, otel.GenAIUsageReasoningOutputTokensKey},
		{"KeyInputMessages", KeyInputMessages, otel.GenAIInputMessagesKey},
		{"KeyOutputMessages", KeyOutputMessages, otel.GenAIOutputMessagesKey},
		{"KeySystemInstructions", KeySystemInstructions, otel.GenAISystemInstructionsKey},
		{"KeyToolName", KeyToolName, otel.GenAIToolNameKey},
		{"KeyToolType", KeyToolType, otel.GenAIToolTypeKey},
		{"KeyToolCallID", KeyToolCallID, otel.GenAIToolCallIDKey},
		{"KeyToolCallArguments", KeyToolCallArguments, otel.GenAIToolCallArgumentsKey},
		{"KeyToolCallResult", KeyToolCallResult, otel.GenAIToolCallResultKey},
		{"KeyErrorType", KeyErrorType, otel.ErrorTypeKey},
	} {
		if c.got != string(c.want) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}
