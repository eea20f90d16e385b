// A deal won, or a won deal changed: tell Syncline (SynclineWebhook decides which).
trigger SynclineOpportunity on Opportunity (after insert, after update) {
    SynclineWebhook.onOpportunities(Trigger.new, Trigger.oldMap);
}
