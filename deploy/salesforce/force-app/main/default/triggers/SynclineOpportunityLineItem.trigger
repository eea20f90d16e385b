// A won deal's lines changed: its ERP order may need amending.
trigger SynclineOpportunityLineItem on OpportunityLineItem (after insert, after update, after delete) {
    SynclineWebhook.onLines(Trigger.isDelete ? Trigger.old : Trigger.new);
}
