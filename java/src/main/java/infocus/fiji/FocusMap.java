package infocus.fiji;

import ij.ImagePlus;

/** Plugins > infocus > Focus Map...: the preset's focus-score stack (32-bit), as {@code infocus focus-map}. */
public class FocusMap extends Command {
    @Override
    String name() {
        return "Focus Map";
    }

    @Override
    ImagePlus[] runOn(ImagePlus imp) {
        Input in = Input.of(imp, 2);
        Method m = new Method();
        Form f = new Form("infocus: Focus Map");
        m.addTo(f, false);
        if (!f.show(null)) return null;
        m.readFrom(f, false);
        return new ImagePlus[] {execute(in, m, new Bar("focus map"))};
    }

    /** The focus map of {@code in}, not shown. */
    public static ImagePlus execute(final Input in, final Method m, final Native.Progress p) {
        Object[] map = Native.call(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(in.slices, in.pixelType, in.width, in.height, m.preset, m.measure,
                    m.window, m.strides, m.dof, m.minContrast, m.radius, m.smoothing, p);
            }
        });
        return Results.stack(in.name + "-focus-map", map, in, false);
    }
}
