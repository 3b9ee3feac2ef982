/// The mapping rules used when no mapping directory exists. Identical to `mappings/default.yaml` in the
/// repository (a test keeps the two the same); users edit the files, not this.
public enum DefaultMappings {
    public static let fileName = "default.yaml"

    public static let yaml = #"""
# castbridge default mappings: the FHIRcast STU3 catalog and the Cast-only events.
# Schema and examples: Docs/mappings.md. Add your own rules in another *.yaml file in this directory.
version: 1

# FHIRcast events with no rule below go to Cast under their lower-cased name ("lowercase") or not at all ("drop").
unmappedFHIRcast: lowercase

events:
  # The FHIRcast catalog: Cast writes the same names in lower case.
  - { fhircast: Patient-open, cast: patient-open }
  - { fhircast: Patient-close, cast: patient-close }
  - { fhircast: Encounter-open, cast: encounter-open }
  - { fhircast: Encounter-close, cast: encounter-close }
  - { fhircast: ImagingStudy-open, cast: imagingstudy-open }
  - { fhircast: ImagingStudy-close, cast: imagingstudy-close }
  - { fhircast: DiagnosticReport-open, cast: diagnosticreport-open }
  - { fhircast: DiagnosticReport-close, cast: diagnosticreport-close }
  - { fhircast: DiagnosticReport-update, cast: diagnosticreport-update }
  - { fhircast: DiagnosticReport-select, cast: diagnosticreport-select }
  - { fhircast: UserLogout, cast: userlogout }
  - { fhircast: UserHibernate, cast: userhibernate }
  - { fhircast: Home-open, cast: home-open }

  # Cast-only events: FHIRcast proprietary names are reverse-domain and have no dash.
  - { fhircast: org.castbridge.annotation_update, cast: annotation-update }
  - { fhircast: org.castbridge.annotation_delete, cast: annotation-delete }
  - { fhircast: org.castbridge.measurement_update, cast: measurement-update }
  - { fhircast: org.castbridge.status_update, cast: status-update }
  - { fhircast: org.castbridge.dicom_send, cast: dicom-send }
  - { fhircast: org.castbridge.nifti_send, cast: nifti-send }
  - { fhircast: org.castbridge.nrrd_send, cast: nrrd-send }
  - { fhircast: org.castbridge.png_send, cast: png-send }
  - { fhircast: org.castbridge.jpg_send, cast: jpg-send }
  # Hub-generated on the Cast side: they only ever travel towards FHIRcast.
  - { fhircast: org.castbridge.conference_start, cast: conference-start, direction: to-fhircast }
  - { fhircast: org.castbridge.conference_end, cast: conference-end, direction: to-fhircast }
  - { fhircast: org.castbridge.subscription_removed, cast: subscription-removed, direction: to-fhircast }

requests:
  # A Cast app asking for STATUS (3D Slicer's image display does on connect) gets the topic's current FHIRcast
  # context, answered as a worklist client: {context.type, context}.
  - { dataType: STATUS, action: answer-from-context, actor: WORKLIST_CLIENT }
  # The generation C name for the same question.
  - { dataType: FHIRcastContext, action: answer-from-context, actor: WORKLIST_CLIENT }
  # FHIRcast apps do not draw scenes or screenshots: not answered, so requesters do not wait for the bridge.
  - { dataType: SCENEVIEW, action: ignore }
"""#
}
